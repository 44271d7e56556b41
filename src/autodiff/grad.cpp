// Reverse mode: the backward of a graph, as more nodes of the same graph.
//
// Only nodes on a path from some `wrt` to the loss get a backward (the others' gradients nobody
// needs: a frozen layer's weights, the data). Nodes are visited in reverse recording order,
// which is a reverse topological order; each asks its op's VJP for the contributions to the
// operands that need one, and where a value fans out (a residual branch, a weight used twice)
// the contributions are summed with accumulate adds, which the compiler may turn into a GEMM
// writing with beta = 1 into the first contribution's memory.
#include "ir/ir.hpp"
#include "ir/ops.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

using detail::GraphIR;
using detail::Node;
using detail::OpKind;

namespace {

std::string describe(const GraphIR& ir, int v) {
    const detail::ValueInfo& info = ir.value(v);
    if (ir.producer(v).kind == OpKind::leaf) return "'" + info.name + "' (%" + std::to_string(v) + ")";
    return std::string(detail::op_def(ir.producer(v).kind).name) + " %" + std::to_string(v);
}

} // namespace

std::vector<Value> Builder::grad(Value loss, std::span<const Value> wrt, float seed) {
    GraphIR& ir = *ir_;
    const int root = operand(loss, "grad");
    if (ir.value(root).shape != Shape{1} || ir.value(root).dtype != DType::f32)
        throw ShapeError("grad: the loss must be a [1] f32 value, got " + vkhalf::to_string(ir.value(root).shape) +
                         " " + std::string(vkhalf::to_string(ir.value(root).dtype)));
    const std::size_t count = ir.values.size();

    // Values that depend on a wrt (forward), and values the loss depends on (backward).
    std::vector<bool> from_wrt(count, false), to_loss(count, false);
    for (const Value& w : wrt) {
        const int id = operand(w, "grad");
        const Node& p = ir.producer(id);
        if (p.kind == OpKind::leaf && !ir.value(id).requires_grad)
            throw Error("grad: " + describe(ir, id) + " does not require a gradient (a frozen parameter or an input)");
        from_wrt[std::size_t(id)] = true;
    }
    for (const Node& n : ir.nodes)
        for (int in : n.inputs)
            if (from_wrt[std::size_t(in)]) from_wrt[std::size_t(n.output)] = true;
    to_loss[std::size_t(root)] = true;
    for (std::size_t i = ir.nodes.size(); i-- > 0;) {
        const Node& n = ir.nodes[i];
        if (!to_loss[std::size_t(n.output)]) continue;
        for (int in : n.inputs) to_loss[std::size_t(in)] = true;
    }

    std::vector<int> grads(count, -1);
    detail::Attrs s;
    s.alpha = seed;
    grads[std::size_t(root)] = ir.add_node(OpKind::constant, {}, s);
    const std::size_t forward_nodes = std::size_t(ir.values[std::size_t(root)].producer) + 1;
    for (std::size_t i = forward_nodes; i-- > 0;) {
        const Node n = ir.nodes[i];  // a copy: the VJP appends nodes
        const int dy = grads[std::size_t(n.output)];
        if (dy < 0 || n.inputs.empty()) continue;
        std::vector<bool> need(n.inputs.size());
        bool any = false;
        for (std::size_t k = 0; k < n.inputs.size(); ++k) {
            const auto in = std::size_t(n.inputs[k]);
            need[k] = from_wrt[in] && to_loss[in];
            any = any || need[k];
        }
        if (!any) continue;
        const auto vjp = detail::op_def(n.kind).vjp;
        if (!vjp)
            throw UnsupportedError("grad: " + describe(ir, n.output) +
                                   " has no gradient (it is a backward op; higher derivatives are not supported)");
        const std::vector<int> g = vjp(ir, n, dy, need);
        for (std::size_t k = 0; k < n.inputs.size(); ++k) {
            if (!need[k] || g[k] < 0) continue;
            int& acc = grads[std::size_t(n.inputs[k])];
            acc = acc < 0 ? g[k] : detail::accumulate(ir, acc, g[k]);
        }
    }

    std::vector<Value> out;
    for (const Value& w : wrt) {
        const int g = grads[std::size_t(w.id())];
        if (g < 0) throw Error("grad: the loss does not depend on " + describe(ir, w.id()));
        if (ir.producer(g).kind == OpKind::constant)
            throw UnsupportedError("grad: the gradient of " + describe(ir, w.id()) +
                                   " is the seed itself; differentiate an op's output, not the loss");
        out.push_back(Value(ir_.get(), g));
    }
    return out;
}

} // namespace vkhalf
