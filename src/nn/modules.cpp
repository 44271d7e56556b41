// Linear, ReLU and Sequential: forward and backward recorded with GEMM, elementwise and
// bias-gradient ops. Activations are allocated at recording time and owned by the graph.
#include <cmath>

#include "vkhalf/error.hpp"
#include "vkhalf/nn.hpp"
#include "vkhalf/conv.hpp"

namespace vkhalf {

namespace {

Tensor activation(RecordContext& rc, Shape shape) {
    return rc.graph.activation(std::move(shape), working_dtype(rc.precision));
}

} // namespace

void Linear::register_parameters(ParameterSet& params, const std::string& prefix) {
    weight_ = params.add(prefix + "weight", {out_, in_});
    bias_ = params.add(prefix + "bias", {out_});
}

void Linear::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    // torch.nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in))
    // for the weight, and the bias is U(-1/sqrt(in), 1/sqrt(in)).
    const float bound = 1.0f / std::sqrt(static_cast<float>(in_));
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<float> w(static_cast<std::size_t>(in_ * out_)), b(static_cast<std::size_t>(out_));
    for (auto& x : w) x = u(rng);
    for (auto& x : b) x = u(rng);
    params.set(weight_, w);
    params.set(bias_, b);
}

Tensor Linear::record_forward(RecordContext& rc, const Tensor& x) {
    if (x.shape().size() != 2 || x.shape()[1] != in_)
        throw ShapeError("Linear(" + std::to_string(in_) + ", " + std::to_string(out_) + "): input " +
                         to_string(x.shape()) + ", expected [batch, " + std::to_string(in_) + "]");
    x_ = x;
    y_ = activation(rc, {x.shape()[0], out_});
    const Tensor w = rc.params.work(weight_), b = rc.params.work(bias_);
    GemmOptions o;
    o.trans_b = true;  // y = x W^T
    o.bias = &b;
    o.relu = fused_relu_;
    rc.graph.gemm(x, w, y_, o);
    return y_;
}

Tensor Linear::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    Tensor dz = dy;
    if (fused_relu_) {  // relu'(z) from its output: y > 0 exactly where z > 0
        dz = activation(rc, dy.shape());
        rc.graph.relu_backward(dy, y_, dz);
    }
    Tensor dw = rc.params.grad(weight_), db = rc.params.grad(bias_);
    GemmOptions t;
    t.trans_a = true;  // dW = dz^T x
    rc.graph.gemm(dz, x_, dw, t);
    rc.graph.bias_grad(dz, db, BiasMode::per_column);
    if (!need_dx) {
        if (fused_relu_) rc.graph.release(dz);
        return {};
    }
    Tensor dx = activation(rc, x_.shape());
    rc.graph.gemm(dz, rc.params.work(weight_), dx);  // dx = dz W
    if (fused_relu_) rc.graph.release(dz);           // read for the last time above
    return dx;
}

void Conv2d::register_parameters(ParameterSet& params, const std::string& prefix) {
    weight_ = params.add(prefix + "weight", {out_, in_, kernel_, kernel_});
    bias_ = params.add(prefix + "bias", {out_});
}

void Conv2d::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    // torch.nn.Conv2d.reset_parameters: as Linear, with fan_in = in * kh * kw.
    const float bound = 1.0f / std::sqrt(static_cast<float>(in_ * kernel_ * kernel_));
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<float> w(static_cast<std::size_t>(out_ * in_ * kernel_ * kernel_)), b(static_cast<std::size_t>(out_));
    for (auto& x : w) x = u(rng);
    for (auto& x : b) x = u(rng);
    params.set(weight_, w);
    params.set(bias_, b);
}

Tensor Conv2d::record_forward(RecordContext& rc, const Tensor& x) {
    const Tensor w = rc.params.work(weight_), b = rc.params.work(bias_);
    x_ = x;
    y_ = activation(rc, conv2d_output_shape(x.shape(), w.shape(), params_));
    rc.graph.conv2d(x, w, &b, y_, params_, fused_relu_);
    return y_;
}

Tensor Conv2d::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    Tensor dz = dy;
    if (fused_relu_) {
        dz = activation(rc, dy.shape());
        rc.graph.relu_backward(dy, y_, dz);
    }
    Tensor dw = rc.params.grad(weight_), db = rc.params.grad(bias_);
    rc.graph.conv2d_backward_weight(dz, x_, dw, params_);
    rc.graph.bias_grad(dz, db, BiasMode::per_channel);
    Tensor dx;
    if (need_dx) {
        dx = activation(rc, x_.shape());
        rc.graph.conv2d_backward_data(dz, rc.params.work(weight_), dx, params_);
    }
    if (fused_relu_) rc.graph.release(dz);  // read for the last time above
    return dx;
}

void BatchNorm2d::register_parameters(ParameterSet& params, const std::string& prefix) {
    prefix_ = prefix;
    weight_ = params.add(prefix + "weight", {channels_});
    bias_ = params.add(prefix + "bias", {channels_});
}

void BatchNorm2d::init_parameters(ParameterSet& params, std::mt19937_64&) {
    params.set(weight_, std::vector<float>(static_cast<std::size_t>(channels_), 1.0f));  // torch: ones, zeros
    params.set(bias_, std::vector<float>(static_cast<std::size_t>(channels_), 0.0f));
}

Tensor BatchNorm2d::record_forward(RecordContext& rc, const Tensor& x) {
    if (!stats_.data.defined()) stats_ = BatchNormStats::create(rc.graph.context(), channels_);
    x_ = x;
    Tensor y = activation(rc, x.shape());
    rc.graph.batch_norm2d(x, rc.params.work(weight_), rc.params.work(bias_), stats_, y, rc.training, params_);
    return y;
}

Tensor BatchNorm2d::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    Tensor dx = activation(rc, x_.shape()), dg = rc.params.grad(weight_), db = rc.params.grad(bias_);
    rc.graph.batch_norm2d_backward(dy, x_, rc.params.work(weight_), stats_, dx, dg, db, params_);
    if (need_dx) return dx;
    rc.graph.release(dx);
    return {};
}

void BatchNorm2d::state_tensors(std::vector<std::pair<std::string, Tensor>>& out) {
    if (!stats_.data.defined()) return;
    out.emplace_back(prefix_ + "running_mean", stats_.running_mean());
    out.emplace_back(prefix_ + "running_var", stats_.running_var());
}

void LayerNorm::register_parameters(ParameterSet& params, const std::string& prefix) {
    weight_ = params.add(prefix + "weight", {d_});
    bias_ = params.add(prefix + "bias", {d_});
}

void LayerNorm::init_parameters(ParameterSet& params, std::mt19937_64&) {
    params.set(weight_, std::vector<float>(static_cast<std::size_t>(d_), 1.0f));
    params.set(bias_, std::vector<float>(static_cast<std::size_t>(d_), 0.0f));
}

Tensor LayerNorm::record_forward(RecordContext& rc, const Tensor& x) {
    x_ = x;
    stats_ = rc.graph.activation({2 * (x.numel() / d_)}, DType::f32);
    Tensor y = activation(rc, x.shape());
    rc.graph.layer_norm(x, rc.params.work(weight_), rc.params.work(bias_), y, stats_, eps_);
    return y;
}

Tensor LayerNorm::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    Tensor dx = activation(rc, x_.shape()), dg = rc.params.grad(weight_), db = rc.params.grad(bias_);
    rc.graph.layer_norm_backward(dy, x_, rc.params.work(weight_), stats_, dx, dg, db);
    if (need_dx) return dx;
    rc.graph.release(dx);
    return {};
}

Tensor MaxPool2d::record_forward(RecordContext& rc, const Tensor& x) {
    const Shape out = pool2d_output_shape(x.shape(), params_);
    x_ = x;
    argmax_ = rc.graph.activation(out, DType::u32);
    Tensor y = activation(rc, out);
    rc.graph.max_pool2d(x, y, argmax_, params_);
    return y;
}

Tensor MaxPool2d::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    if (!need_dx) return {};
    Tensor dx = activation(rc, x_.shape());
    rc.graph.max_pool2d_backward(dy, argmax_, dx, params_);
    return dx;
}

Tensor Flatten::record_forward(RecordContext&, const Tensor& x) {
    in_shape_ = x.shape();
    return x.reinterpret({x.shape()[0], x.numel() / x.shape()[0]}, x.dtype());
}

Tensor Flatten::record_backward(RecordContext&, const Tensor& dy, bool) {
    return dy.reinterpret(in_shape_, dy.dtype());
}

Tensor Unflatten::record_forward(RecordContext&, const Tensor& x) {
    in_shape_ = x.shape();
    Shape out{x.shape()[0]};
    out.insert(out.end(), shape_.begin(), shape_.end());
    if (numel(out) != x.numel())
        throw ShapeError("Unflatten" + to_string(shape_) + ": input " + to_string(x.shape()) + " has " +
                         std::to_string(x.numel()) + " elements, the output " + to_string(out) + " needs " +
                         std::to_string(numel(out)));
    return x.reinterpret(out, x.dtype());
}

Tensor Unflatten::record_backward(RecordContext&, const Tensor& dy, bool) {
    return dy.reinterpret(in_shape_, dy.dtype());
}

Tensor ActivationModule::record_forward(RecordContext& rc, const Tensor& x) {
    x_ = x;
    Tensor y = activation(rc, x.shape());
    rc.graph.activation_forward(f_, x, y);
    return y;
}

Tensor ActivationModule::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    if (!need_dx) return {};
    Tensor dx = activation(rc, dy.shape());
    rc.graph.activation_backward(f_, dy, x_, dx);
    return dx;
}

Tensor Dropout::record_forward(RecordContext& rc, const Tensor& x) {
    active_ = rc.training && p_ > 0.0f;
    if (!active_) return x;
    if (!rng_state_.defined()) rng_state_ = make_rng_state(rc.graph.context(), seed_);
    Tensor y = activation(rc, x.shape());
    rc.graph.dropout(x, y, p_, rng_state_, RngAdvance::keep);  // the backward reuses this mask
    return y;
}

Tensor Dropout::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    if (!active_) return dy;
    // Recorded even when nothing before needs dx: it also moves the offset on, so the next
    // replayed step draws a new mask.
    Tensor dx = activation(rc, dy.shape());
    rc.graph.dropout_backward(dy, dx, p_, rng_state_, RngAdvance::advance);
    if (need_dx) return dx;
    rc.graph.release(dx);
    return {};
}

Tensor ReLU::record_forward(RecordContext& rc, const Tensor& x) {
    if (fused) return x;
    y_ = activation(rc, x.shape());
    rc.graph.relu(x, y_);
    return y_;
}

Tensor ReLU::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    if (fused || !need_dx) return dy;
    Tensor dx = activation(rc, dy.shape());
    rc.graph.relu_backward(dy, y_, dx);
    return dx;
}

Sequential& Sequential::add(std::unique_ptr<Module> m) {
    // Linear or Conv2d then ReLU: the ReLU moves into the kernel's epilogue.
    if (auto* relu = dynamic_cast<ReLU*>(m.get()); relu && !modules_.empty() && modules_.back()->fuse_relu())
        relu->fused = true;
    modules_.push_back(std::move(m));
    return *this;
}

void Sequential::register_parameters(ParameterSet& params, const std::string& prefix) {
    for (std::size_t i = 0; i < modules_.size(); ++i)  // torch.nn.Sequential names: "0.weight", ...
        modules_[i]->register_parameters(params, prefix + std::to_string(i) + ".");
}

bool Sequential::has_parameters() const {
    for (const auto& m : modules_)
        if (m->has_parameters()) return true;
    return false;
}

void Sequential::state_tensors(std::vector<std::pair<std::string, Tensor>>& out) {
    for (auto& m : modules_) m->state_tensors(out);
}

void Sequential::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    for (auto& m : modules_) m->init_parameters(params, rng);
}

Tensor Sequential::record_forward(RecordContext& rc, const Tensor& x) {
    Tensor h = x;
    for (auto& m : modules_) h = m->record_forward(rc, h);
    return h;
}

Tensor Sequential::record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) {
    // Module i needs dL/d(its input) only if the caller wants dx or a module before it has parameters.
    std::vector<bool> needs_input_grad(modules_.size(), need_dx);
    bool params_before = false;
    for (std::size_t i = 0; i < modules_.size(); ++i) {
        needs_input_grad[i] = need_dx || params_before;
        params_before = params_before || modules_[i]->has_parameters();
    }
    Tensor g = dy;
    for (std::size_t i = modules_.size(); i-- > 0;) {
        if (!g.defined()) break;  // nothing before this point needs a gradient
        Tensor next = modules_[i]->record_backward(rc, g, needs_input_grad[i]);
        // g was produced inside this backward (not the caller's dy) and its last reader, module
        // i, is recorded: its memory can serve later gradients. Pass-through modules (a fused
        // ReLU, Flatten) return it, possibly reshaped.
        const bool passed_through = next.defined() && &next.allocation() == &g.allocation();
        if (i + 1 < modules_.size() && !passed_through) rc.graph.release(g);
        g = next;
    }
    return g;
}

} // namespace vkhalf
