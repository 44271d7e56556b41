// The eager API: an op run at once on tensors, through its one declaration in the registry
// (src/ir/ops.cpp). Its inference checks the operands with the same named errors as a compiled
// graph, and its lowering records the same kernel a compiled step records; then one submission and
// a wait. A Program records through the same path (record_op) into its own command list.
// (GEMM, convolution, normalisation, dropout and the MSE loss keep entry
// points of their own beside their kernels: they take options a graph node does not carry.)
#include "ir/eager.hpp"

#include "ir/ops.hpp"
#include "vkhalf/activations.hpp"
#include "vkhalf/conv.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/ops.hpp"

namespace vkhalf {

namespace detail {

void record_op(CommandList& cl, Context& ctx, OpKind kind, std::initializer_list<const Tensor*> operands, Attrs attrs,
               std::initializer_list<Output> outputs, const OpOptions& opt) {
    const char* name = op_def(kind).name;
    GraphIR ir(ctx);
    std::vector<int> in;
    std::vector<Tensor> in_tensors;
    for (const Tensor* t : operands) {
        if (!t->defined()) throw Error(std::string(name) + ": operand " + std::to_string(in.size()) + " is undefined");
        in.push_back(ir.add_leaf(*t, "", false));
        in_tensors.push_back(*t);
    }
    const Node& node = ir.producer(ir.add_node(kind, std::move(in), std::move(attrs)));
    // The caller's tensors receive the output and the further outputs, in order; a further output
    // the caller does not take (attention's backward scratch) gets a tensor of its own.
    std::vector<int> results{node.output};
    results.insert(results.end(), node.aux.begin(), node.aux.end());
    std::vector<Tensor> out;
    std::size_t k = 0;
    for (const Output& o : outputs) {
        const ValueInfo& want = ir.value(results.at(k));
        const Tensor& t = *o.tensor;
        if (!t.defined()) throw Error(std::string(name) + ": " + o.name + " is undefined");
        const std::string got = std::string(to_string(t.dtype())) + " " + to_string(t.shape()),
                          expected = std::string(to_string(want.dtype)) + " " + to_string(want.shape);
        if (t.shape() != want.shape)
            throw ShapeError(std::string(name) + ": " + o.name + " is " + got + ", expected " + expected);
        if (t.dtype() != want.dtype)
            throw DTypeError(std::string(name) + ": " + o.name + " is " + got + ", expected " + expected);
        out.push_back(t);
        ++k;
    }
    for (; k < results.size(); ++k) {
        const ValueInfo& v = ir.value(results[k]);
        out.push_back(Tensor::empty(ctx, v.shape, v.dtype));
        cl.keep_alive(out.back());
    }
    auto scratch = [&](Shape s, DType d) {
        Tensor t = Tensor::empty(ctx, std::move(s), d);
        cl.keep_alive(t);
        return t;
    };
    const LowerArgs args{cl, ctx, ir, node, in_tensors, out[0], std::span(out).subspan(1),
                         false, 0.0f, false, scratch, opt};
    op_def(kind).lower(args);
}

void run_op(Context& ctx, OpKind kind, std::initializer_list<const Tensor*> operands, Attrs attrs,
            std::initializer_list<Output> outputs, const OpOptions& opt) {
    CommandList cl(ctx.impl());
    record_op(cl, ctx, kind, operands, std::move(attrs), outputs, opt);
    cl.submit_and_wait();
}

} // namespace detail

using detail::OpKind;
using detail::run_op;
using detail::with_activation;
using detail::with_alpha;
using detail::with_pool;
using detail::with_softmax;

void add(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt) {
    run_op(ctx, OpKind::add, {&a, &b}, {}, {{&y, "y"}}, opt);
}
void mul(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt) {
    run_op(ctx, OpKind::mul, {&a, &b}, {}, {{&y, "y"}}, opt);
}
void div(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt) {
    run_op(ctx, OpKind::div, {&a, &b}, {}, {{&y, "y"}}, opt);
}
void scale(Context& ctx, const Tensor& a, float alpha, Tensor& y, OpOptions opt) {
    run_op(ctx, OpKind::scale, {&a}, with_alpha(alpha), {{&y, "y"}}, opt);
}
void relu(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt) {
    run_op(ctx, OpKind::relu, {&x}, {}, {{&y, "y"}}, opt);
}
void relu_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt) {
    run_op(ctx, OpKind::relu_backward, {&dy, &x}, {}, {{&dx, "dx"}}, opt);
}

void cast(Context& ctx, const Tensor& src, Tensor& dst) {
    run_op(ctx, OpKind::cast, {&src}, detail::with_dtype(dst.dtype()), {{&dst, "dst"}}, {});
}

void activation_forward(Context& ctx, Activation f, const Tensor& x, Tensor& y, OpOptions opt) {
    run_op(ctx, OpKind::activation, {&x}, with_activation(f), {{&y, "y"}}, opt);
}
void activation_backward(Context& ctx, Activation f, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt) {
    run_op(ctx, OpKind::activation_backward, {&dy, &x}, with_activation(f), {{&dx, "dx"}}, opt);
}
void gelu(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt) {
    activation_forward(ctx, Activation::gelu, x, y, opt);
}
void gelu_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt) {
    activation_backward(ctx, Activation::gelu, dy, x, dx, opt);
}
void tanh_forward(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt) {
    activation_forward(ctx, Activation::tanh, x, y, opt);
}
void tanh_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt) {
    activation_backward(ctx, Activation::tanh, dy, x, dx, opt);
}
void sigmoid(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt) {
    activation_forward(ctx, Activation::sigmoid, x, y, opt);
}
void sigmoid_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt) {
    activation_backward(ctx, Activation::sigmoid, dy, x, dx, opt);
}

void softmax(Context& ctx, const Tensor& x, Tensor& y, SoftmaxKind kind, OpOptions opt) {
    run_op(ctx, OpKind::softmax, {&x}, with_softmax(kind), {{&y, "y"}}, opt);
}
void softmax_backward(Context& ctx, const Tensor& y, const Tensor& dy, Tensor& dx, SoftmaxKind kind, OpOptions opt) {
    run_op(ctx, OpKind::softmax_backward, {&y, &dy}, with_softmax(kind), {{&dx, "dx"}}, opt);
}

void embedding(Context& ctx, const Tensor& table, const Tensor& indices, Tensor& y, OpOptions opt) {
    run_op(ctx, OpKind::embedding, {&table, &indices}, {}, {{&y, "y"}}, opt);
}
void embedding_backward(Context& ctx, const Tensor& dy, const Tensor& indices, Tensor& dtable, OpOptions opt) {
    detail::Attrs a;
    a.shape = dtable.shape();
    run_op(ctx, OpKind::embedding_backward, {&dy, &indices}, a, {{&dtable, "dtable"}}, opt);
}

void causal_attention(Context& ctx, const Tensor& qkv, int64_t heads, Tensor& y, Tensor& lse, OpOptions opt) {
    detail::Attrs a;
    a.heads = heads;
    run_op(ctx, OpKind::causal_attention, {&qkv}, a, {{&y, "y"}, {&lse, "lse"}}, opt);
}
void causal_attention_backward(Context& ctx, const Tensor& dy, const Tensor& qkv, const Tensor& y, const Tensor& lse,
                               int64_t heads, Tensor& dqkv, OpOptions opt) {
    detail::Attrs a;
    a.heads = heads;
    run_op(ctx, OpKind::causal_attention_backward, {&dy, &qkv, &y, &lse}, a, {{&dqkv, "dqkv"}}, opt);
}

void max_pool2d(Context& ctx, const Tensor& x, Tensor& y, Tensor& argmax, const Pool2dParams& p, OpOptions opt) {
    run_op(ctx, OpKind::max_pool2d, {&x}, with_pool(p), {{&y, "y"}, {&argmax, "argmax"}}, opt);
}
void max_pool2d_backward(Context& ctx, const Tensor& dy, const Tensor& argmax, Tensor& dx, const Pool2dParams& p,
                         OpOptions opt) {
    run_op(ctx, OpKind::max_pool2d_backward, {&dy, &argmax}, with_pool(p, &dx), {{&dx, "dx"}}, opt);
}
void avg_pool2d(Context& ctx, const Tensor& x, Tensor& y, const Pool2dParams& p, OpOptions opt) {
    run_op(ctx, OpKind::avg_pool2d, {&x}, with_pool(p), {{&y, "y"}}, opt);
}
void avg_pool2d_backward(Context& ctx, const Tensor& dy, Tensor& dx, const Pool2dParams& p, OpOptions opt) {
    run_op(ctx, OpKind::avg_pool2d_backward, {&dy}, with_pool(p, &dx), {{&dx, "dx"}}, opt);
}

} // namespace vkhalf
