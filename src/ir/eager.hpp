#pragma once
// run_op: one op of the registry run eagerly on tensors (src/ir/eager.cpp).
#include <initializer_list>

#include "ir/ir.hpp"
#include "runtime/command_list.hpp"

namespace vkhalf::detail {

// record_op infers the op's output from the operands and attributes (the registry's named errors),
// checks the caller's output tensors against it (the output, then the further outputs in order;
// those not given get tensors of their own, kept alive by cl) and records its lowering into cl.
// run_op does that into a command list of its own, submits and waits.
struct Output {
    Tensor* tensor;
    const char* name;  // for messages: "y", "lse"
};
void record_op(CommandList& cl, Context& ctx, OpKind kind, std::initializer_list<const Tensor*> operands, Attrs attrs,
               std::initializer_list<Output> outputs, const OpOptions& opt);
void run_op(Context& ctx, OpKind kind, std::initializer_list<const Tensor*> operands, Attrs attrs,
            std::initializer_list<Output> outputs, const OpOptions& opt);

// The attributes the eager entry points set.
inline Attrs with_alpha(float alpha) {
    Attrs a;
    a.alpha = alpha;
    return a;
}
inline Attrs with_dtype(DType dtype) {
    Attrs a;
    a.dtype = dtype;
    return a;
}
inline Attrs with_activation(Activation f) {
    Attrs a;
    a.activation = f;
    return a;
}
inline Attrs with_softmax(SoftmaxKind kind) {
    Attrs a;
    a.softmax = kind;
    return a;
}
// A pooling backward also carries its output's shape (dx, when given).
inline Attrs with_pool(const Pool2dParams& p, const Tensor* dx = nullptr) {
    Attrs a;
    a.pool = p;
    if (dx) a.shape = dx->shape();
    return a;
}

} // namespace vkhalf::detail
