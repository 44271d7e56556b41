#pragma once
// The op registry: one declaration per op (src/ir/ops.cpp) with its shape and dtype inference,
// its vector-Jacobian product in terms of other ops, and its lowering to a kernel's recorder.
#include <functional>
#include <span>
#include <vector>

#include "ir/ir.hpp"
#include "runtime/command_list.hpp"

namespace vkhalf::detail {

// What a lowering records with. Fused epilogues and accumulation come from the compiler.
struct LowerArgs {
    CommandList& cl;
    Context& ctx;
    const GraphIR& ir;
    const Node& node;
    std::span<const Tensor> in;  // the node's operands (constants left out)
    Tensor& out;
    std::span<Tensor> aux;  // the node's further outputs
    bool relu = false;  // apply ReLU in the epilogue (matmul, conv2d)
    // out = result + beta * out (matmul; bias_grad and conv2d_backward_weight: beta 1 accumulates):
    // a gradient sum written in place.
    float beta = 0.0f;
    bool advance_rng = false;  // dropout: no later step reuses this mask, so move the state on
    // A scratch tensor that lives as long as the program (an op's unread second result).
    std::function<Tensor(Shape, DType)> scratch;
    // The tier to force (an eager call's OpOptions); a compiled step takes the device's best.
    OpOptions opt = {};
    // Bit k: aux[k] += the result (a normalisation backward's dgamma, dbeta: a gradient sum).
    uint32_t aux_accumulate = 0;
};

struct OpDef {
    const char* name;
    // Checks the operands and attributes and returns the output's shape and dtype; may settle
    // attributes (add_bias: per row or per channel).
    ValueInfo (*infer)(const GraphIR& ir, Node& node);
    // The further outputs' shapes and dtypes (nullptr: none).
    std::vector<ValueInfo> (*infer_aux)(const GraphIR& ir, const Node& node);
    // Gradient contributions for the operands marked in `need`, given dy (the gradient of the
    // node's output); -1 where none. nullptr: the op has no gradient (a backward op).
    std::vector<int> (*vjp)(GraphIR& ir, const Node& node, int dy, const std::vector<bool>& need);
    // Records the node; nullptr for nodes that are not dispatched (leaves, constants, views).
    void (*lower)(const LowerArgs& args);
};

const OpDef& op_def(OpKind kind);

// dy * alpha, folded when dy is a constant (the loss seed) so losses can be scaled and summed.
int scaled(GraphIR& ir, int value, float alpha);
// The sum of two gradient contributions (an accumulate add; constants folded).
int accumulate(GraphIR& ir, int a, int b);

} // namespace vkhalf::detail
