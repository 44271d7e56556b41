#include "vkhalf/graph.hpp"

#include "ops/record.hpp"

namespace vkhalf {

using detail::ElementwiseOp;

Graph::Graph(Context& ctx, bool profile)
    : ctx_(ctx), commands_(std::make_unique<detail::CommandList>(ctx.impl(), profile)) {}

Graph::~Graph() = default;

Tensor& Graph::keep(Tensor t) {
    kept_.push_back(std::make_unique<Tensor>(std::move(t)));
    return *kept_.back();
}

void Graph::add(const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt) {
    detail::record_elementwise(*commands_, ctx_.impl(), ElementwiseOp::add, a, b, 0.0f, y, opt);
}
void Graph::mul(const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt) {
    detail::record_elementwise(*commands_, ctx_.impl(), ElementwiseOp::mul, a, b, 0.0f, y, opt);
}
void Graph::scale(const Tensor& a, float alpha, Tensor& y, OpOptions opt) {
    detail::record_elementwise(*commands_, ctx_.impl(), ElementwiseOp::scale, a, a, alpha, y, opt);
}
void Graph::relu(const Tensor& x, Tensor& y, OpOptions opt) {
    detail::record_elementwise(*commands_, ctx_.impl(), ElementwiseOp::relu, x, x, 0.0f, y, opt);
}
void Graph::relu_backward(const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt) {
    detail::record_elementwise(*commands_, ctx_.impl(), ElementwiseOp::relu_backward, dy, x, 0.0f, dx, opt);
}
void Graph::cast(const Tensor& src, Tensor& dst) { detail::record_cast(*commands_, ctx_.impl(), src, dst); }
void Graph::sum(const Tensor& x, Tensor& out, OpOptions opt) {
    detail::record_sum(*commands_, ctx_, x, out, opt, keep(Tensor{}));
}
void Graph::gemm(const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& opt) {
    detail::record_gemm(*commands_, ctx_, a, b, c, opt, keep(Tensor{}));
}
void Graph::bias_grad(const Tensor& dy, Tensor& db, BiasMode mode, OpOptions opt) {
    detail::record_bias_grad(*commands_, ctx_.impl(), dy, db, mode, opt);
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
