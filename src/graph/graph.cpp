#include "vkhalf/graph.hpp"

#include "ir/eager.hpp"
#include "ops/activations_record.hpp"
#include "ops/record.hpp"

namespace vkhalf {

using detail::OpKind;

Graph::Graph(Context& ctx, bool profile, bool reuse_activations, bool submit_per_op)
    : ctx_(ctx),
      commands_(std::make_unique<detail::CommandList>(ctx.impl(), profile, submit_per_op)),
      reuse_(reuse_activations) {}

Graph::~Graph() {
    // Wait before the members go: the tensors the Graph keeps are freed before its command list,
    // and a run still in flight reads them (the allocator's self-check reports such a free).
    try {
        commands_->wait();
    } catch (...) {  // a lost device: nothing left to wait for
    }
}

Tensor& Graph::keep(Tensor t) {
    kept_.push_back(std::make_unique<Tensor>(std::move(t)));
    return *kept_.back();
}

Tensor Graph::activation(Shape shape, DType dtype) {
    ++activation_requests_;
    const int64_t bytes = numel(shape) * int64_t(dtype_size(dtype));
    const int64_t words = (bytes + 3) / 4;
    // Best fit among released blocks: the smallest that holds this tensor.
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
        if (it->numel() >= words && (best == free_.end() || it->numel() < best->numel())) best = it;
    Tensor block;
    if (best != free_.end()) {
        block = *best;
        free_.erase(best);
    } else {
        block = keep(Tensor::empty(ctx_, {words}, DType::u32));
        activation_bytes_ += std::size_t(words) * 4;
    }
    return block.reinterpret(std::move(shape), dtype);
}

void Graph::release(const Tensor& t) {
    if (!t.defined() || !reuse_) return;
    // Only activations come back: their memory is a whole u32 block kept by this graph.
    for (const auto& k : kept_)
        if (k->defined() && &k->allocation() == &t.allocation() && k->dtype() == DType::u32 && t.byte_offset() == 0) {
            for (const Tensor& f : free_)
                if (&f.allocation() == &t.allocation()) return;  // released twice
            free_.push_back(*k);
            return;
        }
}

void Graph::add(const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::add, {&a, &b}, {}, {{&y, "y"}}, opt);
}
void Graph::mul(const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::mul, {&a, &b}, {}, {{&y, "y"}}, opt);
}
void Graph::scale(const Tensor& a, float alpha, Tensor& y, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::scale, {&a}, detail::with_alpha(alpha), {{&y, "y"}}, opt);
}
void Graph::relu(const Tensor& x, Tensor& y, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::relu, {&x}, {}, {{&y, "y"}}, opt);
}
void Graph::relu_backward(const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::relu_backward, {&dy, &x}, {}, {{&dx, "dx"}}, opt);
}
void Graph::cast(const Tensor& src, Tensor& dst) {
    detail::record_op(*commands_, ctx_, OpKind::cast, {&src}, detail::with_dtype(dst.dtype()), {{&dst, "dst"}}, {});
}
void Graph::sum(const Tensor& x, Tensor& out, OpOptions opt) {
    detail::record_sum(*commands_, ctx_, x, out, opt);
}
void Graph::gemm(const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& opt) {
    detail::record_gemm(*commands_, ctx_, a, b, c, opt);
}
void Graph::bias_grad(const Tensor& dy, Tensor& db, BiasMode mode, OpOptions opt) {
    detail::record_bias_grad(*commands_, ctx_.impl(), dy, db, mode, opt);
}

void Graph::conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const Conv2dParams& p, bool relu,
                   OpOptions opt) {
    detail::record_conv2d(*commands_, ctx_, x, w, bias, y, p, relu, opt);
}
void Graph::conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p, OpOptions opt) {
    detail::record_conv2d_backward_data(*commands_, ctx_, dy, w, dx, p, opt);
}
void Graph::conv2d_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw, const Conv2dParams& p,
                                   OpOptions opt) {
    detail::record_conv2d_backward_weight(*commands_, ctx_, dy, x, dw, p, opt);
}
void Graph::max_pool2d(const Tensor& x, Tensor& y, Tensor& argmax, const Pool2dParams& p, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::max_pool2d, {&x}, detail::with_pool(p),
                      {{&y, "y"}, {&argmax, "argmax"}}, opt);
}
void Graph::max_pool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx, const Pool2dParams& p,
                                OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::max_pool2d_backward, {&dy, &argmax}, detail::with_pool(p, &dx),
                      {{&dx, "dx"}}, opt);
}
void Graph::avg_pool2d(const Tensor& x, Tensor& y, const Pool2dParams& p, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::avg_pool2d, {&x}, detail::with_pool(p), {{&y, "y"}}, opt);
}
void Graph::avg_pool2d_backward(const Tensor& dy, Tensor& dx, const Pool2dParams& p, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::avg_pool2d_backward, {&dy}, detail::with_pool(p, &dx), {{&dx, "dx"}},
                      opt);
}

void Graph::batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, BatchNormStats& stats, Tensor& y,
                         bool training, BatchNormParams p, OpOptions opt) {
    detail::record_batch_norm2d(*commands_, ctx_.impl(), x, gamma, beta, stats, y, training, p, opt);
}
void Graph::batch_norm2d_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const BatchNormStats& stats,
                                  Tensor& dx, Tensor& dgamma, Tensor& dbeta, BatchNormParams p, OpOptions opt) {
    detail::record_batch_norm2d_backward(*commands_, ctx_.impl(), dy, x, gamma, stats, dx, dgamma, dbeta, p, opt);
}
void Graph::layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& stats, float eps,
                       OpOptions opt) {
    detail::record_layer_norm(*commands_, ctx_.impl(), x, gamma, beta, y, stats, eps, opt);
}
void Graph::layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& stats, Tensor& dx,
                                Tensor& dgamma, Tensor& dbeta, OpOptions opt) {
    detail::record_layer_norm_backward(*commands_, ctx_.impl(), dy, x, gamma, stats, dx, dgamma, dbeta, opt);
}
void Graph::mse_loss(const Tensor& y, const Tensor& target, Tensor& loss, Tensor* dy, float scale, OpOptions opt) {
    detail::record_mse_loss(*commands_, ctx_, y, target, loss, dy, scale, opt);
}
void Graph::activation_forward(Activation f, const Tensor& x, Tensor& y, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::activation, {&x}, detail::with_activation(f), {{&y, "y"}}, opt);
}
void Graph::activation_backward(Activation f, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt) {
    detail::record_op(*commands_, ctx_, OpKind::activation_backward, {&dy, &x}, detail::with_activation(f),
                      {{&dx, "dx"}}, opt);
}
void Graph::dropout(const Tensor& x, Tensor& y, float p, Tensor& rng_state, RngAdvance advance, OpOptions opt) {
    detail::record_dropout(*commands_, ctx_.impl(), x, y, p, rng_state, advance, opt);
}
void Graph::dropout_backward(const Tensor& dy, Tensor& dx, float p, Tensor& rng_state, RngAdvance advance,
                             OpOptions opt) {
    detail::record_dropout_backward(*commands_, ctx_.impl(), dy, dx, p, rng_state, advance, opt);
}

void Graph::run() { commands_->submit(); }
void Graph::wait() { commands_->wait(); }
std::size_t Graph::dispatch_count() const { return commands_->dispatch_count(); }
std::size_t Graph::barrier_count() const { return commands_->barrier_count(); }

std::vector<OpTiming> Graph::profile() const {
    std::vector<OpTiming> out;
    for (const auto& t : commands_->timings()) out.push_back({t.label, t.milliseconds});
    return out;
}

} // namespace vkhalf
