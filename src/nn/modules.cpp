// Linear, ReLU and Sequential: forward and backward recorded with GEMM, elementwise and
// bias-gradient ops. Activations are allocated at recording time and owned by the graph.
#include <cmath>

#include "vkhalf/error.hpp"
#include "vkhalf/nn.hpp"

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
    // Linear then ReLU: the ReLU moves into the GEMM's epilogue.
    if (auto* relu = dynamic_cast<ReLU*>(m.get()); relu && !modules_.empty())
        if (auto* linear = dynamic_cast<Linear*>(modules_.back().get())) {
            linear->fuse_relu(true);
            relu->fused = true;
        }
    modules_.push_back(std::move(m));
    return *this;
}

void Sequential::register_parameters(ParameterSet& params, const std::string& prefix) {
    for (std::size_t i = 0; i < modules_.size(); ++i)  // torch.nn.Sequential names: "0.weight", ...
        modules_[i]->register_parameters(params, prefix + std::to_string(i) + ".");
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
    Tensor g = dy;
    for (std::size_t i = modules_.size(); i-- > 0;) {
        Tensor next = modules_[i]->record_backward(rc, g, need_dx || i > 0);
        // g was produced inside this backward (not the caller's dy) and its last reader, module
        // i, is recorded: its memory can serve later gradients. Pass-through modules return it.
        const bool passed_through = next.defined() && &next.allocation() == &g.allocation();
        if (i + 1 < modules_.size() && !passed_through) rc.graph.release(g);
        g = next;
    }
    return g;
}

} // namespace vkhalf
