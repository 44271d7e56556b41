// Every op of the autograd graph, declared once: inference, gradient, lowering. A gradient is
// written with other ops of this table, so grad() needs nothing op-specific; the kernels behind
// the lowerings are the same recorders the eager API uses (src/kernels/).
#include "ir/ops.hpp"

#include <array>

#include "kernels/activations_record.hpp"
#include "kernels/record.hpp"
#include "kernels/training_ops.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

const ValueInfo& operand(const GraphIR& ir, const Node& n, std::size_t i) { return ir.value(n.inputs.at(i)); }

std::string op_name(const Node& n);

void require_float(const Node& n, const ValueInfo& v, const char* what) {
    if (v.dtype != DType::f32 && v.dtype != DType::f16)
        throw DTypeError(op_name(n) + ": " + what + " must be f32 or f16, got " + std::string(to_string(v.dtype)));
}

void require_same_dtype(const Node& n, const ValueInfo& a, const ValueInfo& b) {
    if (a.dtype != b.dtype)
        throw DTypeError(op_name(n) + ": operands " + std::string(to_string(a.dtype)) + " vs " +
                         std::string(to_string(b.dtype)) + ": they must share a dtype");
}

void require_same_shape(const Node& n, const ValueInfo& a, const ValueInfo& b) {
    if (a.shape != b.shape)
        throw ShapeError(op_name(n) + ": shapes " + to_string(a.shape) + " vs " + to_string(b.shape) +
                         ": they must match");
}

ValueInfo info(Shape s, DType d) {
    ValueInfo v;
    v.shape = std::move(s);
    v.dtype = d;
    return v;
}

// Same shape and dtype as every operand (elementwise).
ValueInfo infer_elementwise(const GraphIR& ir, Node& n) {
    const ValueInfo& a = operand(ir, n, 0);
    require_float(n, a, "the operand");
    for (std::size_t i = 1; i < n.inputs.size(); ++i) {
        require_same_dtype(n, a, operand(ir, n, i));
        require_same_shape(n, a, operand(ir, n, i));
    }
    return info(a.shape, a.dtype);
}

int emit(GraphIR& ir, OpKind k, std::vector<int> in, Attrs a = {}) { return ir.add_node(k, std::move(in), std::move(a)); }

// ---- matmul: out = op(a) op(b) (+ bias per column) ----------------------------------------

ValueInfo infer_matmul(const GraphIR& ir, Node& n) {
    const ValueInfo &a = operand(ir, n, 0), &b = operand(ir, n, 1);
    require_float(n, a, "a");
    require_same_dtype(n, a, b);
    const std::size_t ra = a.shape.size(), rb = b.shape.size();
    if (ra < 2 || ra > 3 || rb < 2 || rb > 3)
        throw ShapeError("matmul: operands must be 2-D or batched 3-D, got " + to_string(a.shape) + " and " +
                         to_string(b.shape));
    if (ra == 3 && rb == 3 && a.shape[0] != b.shape[0])
        throw ShapeError("matmul: batches differ: " + to_string(a.shape) + " and " + to_string(b.shape));
    const int64_t batch = ra == 3 ? a.shape[0] : rb == 3 ? b.shape[0] : 0;
    const std::size_t ia = ra - 2, ib = rb - 2;  // the matrix dimensions
    const int64_t m = n.attrs.trans_a ? a.shape[ia + 1] : a.shape[ia], k = n.attrs.trans_a ? a.shape[ia] : a.shape[ia + 1];
    const int64_t kb = n.attrs.trans_b ? b.shape[ib + 1] : b.shape[ib], nn = n.attrs.trans_b ? b.shape[ib] : b.shape[ib + 1];
    if (k != kb)
        throw ShapeError("matmul: inner dimensions differ: op(a) is [" + std::to_string(m) + ", " + std::to_string(k) +
                         "], op(b) is [" + std::to_string(kb) + ", " + std::to_string(nn) + "]");
    if (n.inputs.size() == 3) {
        const ValueInfo& bias = operand(ir, n, 2);
        require_same_dtype(n, a, bias);
        if (bias.shape != Shape{nn})
            throw ShapeError("matmul: bias must be [" + std::to_string(nn) + "], got " + to_string(bias.shape));
    }
    return info(batch ? Shape{batch, m, nn} : Shape{m, nn}, a.dtype);
}

int sum_to_shape(GraphIR& ir, int dy, const Shape& x_shape);

// C = op(A) op(B): dop(A) = dC op(B)^T, dop(B) = op(A)^T dC, each transposed back when the
// operand was read transposed; the transposes are GEMM flags, never copies.
std::vector<int> vjp_matmul(GraphIR& ir, const Node& n, int dy, const std::vector<bool>& need) {
    const int a = n.inputs[0], b = n.inputs[1];
    const bool ta = n.attrs.trans_a, tb = n.attrs.trans_b;
    std::vector<int> g(n.inputs.size(), -1);
    auto mm = [&](int x, int y, bool tx, bool ty) {
        Attrs at;
        at.trans_a = tx;
        at.trans_b = ty;
        return emit(ir, OpKind::matmul, {x, y}, at);
    };
    // A shared 2-D operand of a batched product gets the sum of its per-batch gradients.
    auto fit = [&](int grad, int value) {
        const Shape& want = ir.value(value).shape;
        return ir.value(grad).shape == want ? grad : sum_to_shape(ir, grad, want);
    };
    if (need[0]) g[0] = fit(ta ? mm(b, dy, tb, true) : mm(dy, b, false, !tb), a);
    if (need[1]) g[1] = fit(tb ? mm(dy, a, true, ta) : mm(a, dy, !ta, false), b);
    if (n.inputs.size() == 3 && need[2]) {
        Attrs at;
        at.bias_mode = BiasMode::per_column;
        g[2] = emit(ir, OpKind::bias_grad, {dy}, at);
    }
    return g;
}

void lower_matmul(const LowerArgs& x) {
    GemmOptions o;
    o.trans_a = x.node.attrs.trans_a;
    o.trans_b = x.node.attrs.trans_b;
    o.beta = x.beta;
    o.bias = x.in.size() == 3 ? &x.in[2] : nullptr;
    o.relu = x.relu;
    record_gemm(x.cl, x.ctx, x.in[0], x.in[1], x.out, o);
}

// ---- bias_grad: the per-column (matmul) or per-channel (conv2d) sum of dy -----------------

ValueInfo infer_bias_grad(const GraphIR& ir, Node& n) {
    const ValueInfo& dy = operand(ir, n, 0);
    const bool channel = n.attrs.bias_mode == BiasMode::per_channel;
    if (dy.shape.size() != (channel ? 4u : 2u))
        throw ShapeError("bias_grad: dy must be " + std::string(channel ? "[n, c, h, w]" : "[rows, cols]") +
                         ", got " + to_string(dy.shape));
    return info({dy.shape[1]}, dy.dtype);
}

void lower_bias_grad(const LowerArgs& x) {
    record_bias_grad(x.cl, x.ctx.impl(), x.in[0], x.out, x.node.attrs.bias_mode, x.opt, x.beta != 0.0f);
}

// ---- elementwise --------------------------------------------------------------------------

void lower_elementwise(const LowerArgs& x, ElementwiseOp op) {
    const Tensor& b = x.in.size() > 1 ? x.in[1] : x.in[0];
    record_elementwise(x.cl, x.ctx.impl(), op, x.in[0], b, x.node.attrs.alpha, x.out, x.opt);
}

std::vector<int> vjp_add(GraphIR&, const Node&, int dy, const std::vector<bool>& need) {
    return {need[0] ? dy : -1, need[1] ? dy : -1};
}

std::vector<int> vjp_mul(GraphIR& ir, const Node& n, int dy, const std::vector<bool>& need) {
    return {need[0] ? emit(ir, OpKind::mul, {dy, n.inputs[1]}) : -1,
            need[1] ? emit(ir, OpKind::mul, {dy, n.inputs[0]}) : -1};
}

// y = a / b: da = dy / b, db = -dy y / b.
std::vector<int> vjp_div(GraphIR& ir, const Node& n, int dy, const std::vector<bool>& need) {
    const int b = n.inputs[1];
    return {need[0] ? emit(ir, OpKind::div, {dy, b}) : -1,
            need[1] ? scaled(ir, emit(ir, OpKind::div, {emit(ir, OpKind::mul, {dy, n.output}), b}), -1.0f) : -1};
}

std::vector<int> vjp_scale(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    return {scaled(ir, dy, n.attrs.alpha)};
}

// relu'(x) from relu's own output (y > 0 exactly where x > 0): x need not be kept, so the
// producer of x can take the ReLU into its epilogue.
std::vector<int> vjp_relu(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    return {emit(ir, OpKind::relu_backward, {dy, n.output})};
}

std::vector<int> vjp_activation(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    return {emit(ir, OpKind::activation_backward, {dy, n.inputs[0]}, n.attrs)};
}

// ---- reshape: a view of the same memory ---------------------------------------------------

ValueInfo infer_reshape(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    Shape s = n.attrs.shape;
    int64_t known = 1;
    int free_dim = -1;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == -1 && free_dim < 0) {
            free_dim = int(i);
        } else if (s[i] <= 0) {
            throw ShapeError("reshape: extents must be positive (one may be -1), got " + to_string(s));
        } else {
            known *= s[i];
        }
    }
    const int64_t total = numel(x.shape);
    if (free_dim >= 0 && total % known == 0) s[std::size_t(free_dim)] = total / known;
    if (numel(s) != total || (free_dim >= 0 && s[std::size_t(free_dim)] <= 0))
        throw ShapeError("reshape: " + to_string(x.shape) + " has " + std::to_string(total) +
                         " elements, which do not fit " + to_string(n.attrs.shape));
    n.attrs.shape = s;
    return info(s, x.dtype);
}

std::vector<int> vjp_reshape(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    Attrs a;
    a.shape = ir.value(n.inputs[0]).shape;
    return {emit(ir, OpKind::reshape, {dy}, a)};
}

// ---- conv2d: out = conv(x, w) (+ bias per channel) ----------------------------------------

ValueInfo infer_conv2d(const GraphIR& ir, Node& n) {
    const ValueInfo &x = operand(ir, n, 0), &w = operand(ir, n, 1);
    require_float(n, x, "x");
    require_same_dtype(n, x, w);
    Shape y = conv2d_output_shape(x.shape, w.shape, n.attrs.conv);
    if (n.inputs.size() == 3) {
        const ValueInfo& b = operand(ir, n, 2);
        require_same_dtype(n, x, b);
        if (b.shape != Shape{w.shape[0]})
            throw ShapeError("conv2d: bias must be [" + std::to_string(w.shape[0]) + "], got " + to_string(b.shape));
    }
    return info(std::move(y), x.dtype);
}

std::vector<int> vjp_conv2d(GraphIR& ir, const Node& n, int dy, const std::vector<bool>& need) {
    std::vector<int> g(n.inputs.size(), -1);
    Attrs a = n.attrs;
    if (need[0]) {
        a.shape = ir.value(n.inputs[0]).shape;
        g[0] = emit(ir, OpKind::conv2d_backward_data, {dy, n.inputs[1]}, a);
    }
    if (need[1]) {
        a.shape = ir.value(n.inputs[1]).shape;
        g[1] = emit(ir, OpKind::conv2d_backward_weight, {dy, n.inputs[0]}, a);
    }
    if (n.inputs.size() == 3 && need[2]) {
        Attrs b;
        b.bias_mode = BiasMode::per_channel;
        g[2] = emit(ir, OpKind::bias_grad, {dy}, b);
    }
    return g;
}

void lower_conv2d(const LowerArgs& x) {
    record_conv2d(x.cl, x.ctx, x.in[0], x.in[1], x.in.size() == 3 ? &x.in[2] : nullptr, x.out, x.node.attrs.conv,
                  x.relu, x.opt);
}

// The backward ops' output shape is the forward operand's, kept in attrs.shape.
ValueInfo infer_from_attrs(const GraphIR& ir, Node& n) { return info(n.attrs.shape, operand(ir, n, 0).dtype); }

// ---- softmax and log-softmax over the last axis (causal: attention scores) -----------------

ValueInfo infer_softmax(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    require_float(n, x, "x");
    if (x.shape.empty()) throw ShapeError("softmax: x must have at least one dimension");
    if (n.attrs.softmax == SoftmaxKind::causal_softmax &&
        (x.shape.size() < 2 || x.shape[x.shape.size() - 2] != x.shape.back()))
        throw ShapeError("softmax: a causal mask needs scores [.., T, T], got " + to_string(x.shape));
    if (n.kind == OpKind::softmax_backward) require_same_dtype(n, x, operand(ir, n, 1));
    return info(x.shape, x.dtype);
}

// From the forward's output y, as torch does: no saved input.
std::vector<int> vjp_softmax(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    return {emit(ir, OpKind::softmax_backward, {n.output, dy}, n.attrs)};
}

// ---- fused causal self-attention over a packed qkv projection ----------------------------

ValueInfo infer_causal_attention(const GraphIR& ir, Node& n) {
    const bool backward = n.kind == OpKind::causal_attention_backward;
    const ValueInfo& qkv = operand(ir, n, backward ? 1 : 0);
    require_float(n, qkv, "qkv");
    const int64_t h = n.attrs.heads;
    if (qkv.shape.size() != 3 || qkv.shape[2] % 3 != 0 || h < 1 || (qkv.shape[2] / 3) % h != 0)
        throw ShapeError("causal_attention: qkv must be [batch, T, 3 C] with C a multiple of " + std::to_string(h) +
                         " heads, got " + to_string(qkv.shape));
    if ((qkv.shape[2] / 3 / h) % 2 != 0)
        throw UnsupportedError("causal_attention: the fused kernel needs an even head size, got " +
                               std::to_string(qkv.shape[2] / 3 / h) + " (use scaled_dot_product_attention)");
    if (backward) {
        require_same_dtype(n, qkv, operand(ir, n, 0));
        return info(qkv.shape, qkv.dtype);
    }
    return info({qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3}, qkv.dtype);
}

// lse (forward) or delta (backward): one fp32 per row of every head.
std::vector<ValueInfo> aux_causal_attention(const GraphIR& ir, const Node& n) {
    const Shape& s = operand(ir, n, n.kind == OpKind::causal_attention_backward ? 1 : 0).shape;
    return {info({s[0] * n.attrs.heads * s[1]}, DType::f32)};
}

std::vector<int> vjp_causal_attention(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    return {emit(ir, OpKind::causal_attention_backward, {dy, n.inputs[0], n.output, n.aux.at(0)}, n.attrs)};
}

// ---- embedding: y [indices..., D] = table [V, D] at u32 indices ---------------------------

ValueInfo infer_embedding(const GraphIR& ir, Node& n) {
    const ValueInfo &t = operand(ir, n, 0), &i = operand(ir, n, 1);
    require_float(n, t, "table");
    if (i.dtype != DType::u32)
        throw DTypeError("embedding: indices must be u32, got " + std::string(to_string(i.dtype)));
    if (t.shape.size() != 2)
        throw ShapeError("embedding: the table must be [vocab, dim], got " + to_string(t.shape));
    Shape y = i.shape;
    y.push_back(t.shape[1]);
    return info(std::move(y), t.dtype);
}

// Only the table has a gradient (indices are integers): dy's rows summed per index.
std::vector<int> vjp_embedding(GraphIR& ir, const Node& n, int dy, const std::vector<bool>& need) {
    std::vector<int> g(2, -1);
    if (need[0]) {
        Attrs a;
        a.shape = ir.value(n.inputs[0]).shape;
        g[0] = emit(ir, OpKind::embedding_backward, {dy, n.inputs[1]}, a);
    }
    return g;
}

// ---- pooling -------------------------------------------------------------------------------

ValueInfo infer_avg_pool2d(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    require_float(n, x, "x");
    return info(pool2d_output_shape(x.shape, n.attrs.pool), x.dtype);
}

std::vector<int> vjp_avg_pool2d(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    Attrs a = n.attrs;
    a.shape = ir.value(n.inputs[0]).shape;
    return {emit(ir, OpKind::avg_pool2d_backward, {dy}, a)};
}

// ---- mean squared error --------------------------------------------------------------------

ValueInfo infer_mse_loss(const GraphIR& ir, Node& n) {
    const ValueInfo &y = operand(ir, n, 0), &t = operand(ir, n, 1);
    require_float(n, y, "y");
    require_same_dtype(n, y, t);
    require_same_shape(n, y, t);
    if (n.attrs.state.defined() && y.shape.empty()) throw ShapeError("mse_loss: with a training state y needs rows");
    return info({1}, DType::f32);
}

ValueInfo infer_mse_loss_grad(const GraphIR& ir, Node& n) {
    const ValueInfo& y = operand(ir, n, 0);
    return info(y.shape, y.dtype);
}

// The kernel seeds the gradient itself from a push constant, so the loss's own gradient must be
// known on the host: the seed, scaled or summed (see scaled()). With a training state it seeds
// with the loss scale it reads on the device, so the host seed must be 1.
std::vector<int> vjp_mse_loss(GraphIR& ir, const Node& n, int dy, const std::vector<bool>& need) {
    const Node& seed = ir.producer(dy);
    if (seed.kind != OpKind::constant)
        throw UnsupportedError("grad: mse_loss (%" + std::to_string(n.output) +
                               ") must be the loss, or scaled or summed into it; its gradient cannot come from "
                               "another op");
    if (n.attrs.state.defined() && seed.attrs.alpha != 1.0f)
        throw UnsupportedError("grad: mse_loss %" + std::to_string(n.output) +
                               " with a training state must be the loss itself with seed 1: it scales its gradient "
                               "by the loss scale in the state");
    const int dyy = emit(ir, OpKind::mse_loss_grad, {n.inputs[0], n.inputs[1], dy}, n.attrs);
    return {need[0] ? dyy : -1, need[1] ? scaled(ir, dyy, -1.0f) : -1};
}

void lower_mse_loss(const LowerArgs& x) {
    Tensor state = x.node.attrs.state;
    Tensor loss = state.defined() ? x.scratch({1}, DType::f32) : x.out;  // with a state: a handle
    record_mse_loss(x.cl, x.ctx, x.in[0], x.in[1], loss, nullptr, 1.0f, x.opt,
                    state.defined() ? &state : nullptr, x.node.attrs.mean_over);
}

void lower_mse_loss_grad(const LowerArgs& x) {
    Tensor loss = x.scratch({1}, DType::f32);  // the kernel writes the loss too
    Tensor dy = x.out, state = x.node.attrs.state;
    const float seed = x.ir.producer(x.node.inputs[2]).attrs.alpha;
    record_mse_loss(x.cl, x.ctx, x.in[0], x.in[1], loss, &dy, seed, x.opt, state.defined() ? &state : nullptr,
                    x.node.attrs.mean_over);
}


// ---- max pooling: y and the argmax its backward scatters through ---------------------------

ValueInfo infer_max_pool2d(const GraphIR& ir, Node& n) { return infer_avg_pool2d(ir, n); }

std::vector<ValueInfo> aux_max_pool2d(const GraphIR& ir, const Node& n) {
    return {info(pool2d_output_shape(operand(ir, n, 0).shape, n.attrs.pool), DType::u32)};
}

std::vector<int> vjp_max_pool2d(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    Attrs a = n.attrs;
    a.shape = ir.value(n.inputs[0]).shape;
    return {emit(ir, OpKind::max_pool2d_backward, {dy, n.aux.at(0)}, a)};
}

// ---- normalisation: the backward kernels write dx, dgamma and dbeta at once ------------------

// x [n, c, h, w] (batch_norm2d) or [..., d] (layer_norm); gamma and beta [c] or [d].
ValueInfo infer_norm(const GraphIR& ir, Node& n) {
    const ValueInfo &x = operand(ir, n, 0), &g = operand(ir, n, 1), &b = operand(ir, n, 2);
    require_float(n, x, "x");
    require_same_dtype(n, x, g);
    require_same_dtype(n, x, b);
    const bool bn = n.kind == OpKind::batch_norm2d;
    if (bn ? x.shape.size() != 4 : x.shape.empty())
        throw ShapeError(op_name(n) + ": x must be " + (bn ? "[n, c, h, w]" : "at least 1-D") + ", got " +
                         to_string(x.shape));
    const int64_t c = bn ? x.shape[1] : x.shape.back();
    if (g.shape != Shape{c} || b.shape != Shape{c})
        throw ShapeError(op_name(n) + ": gamma and beta must be [" + std::to_string(c) + "], got " +
                         to_string(g.shape) + " and " + to_string(b.shape));
    if (bn && n.attrs.bn_stats.channels != c)
        throw ShapeError("batch_norm2d: statistics for " + std::to_string(n.attrs.bn_stats.channels) +
                         " channels, x has " + std::to_string(c));
    return info(x.shape, x.dtype);
}

std::vector<ValueInfo> aux_layer_norm(const GraphIR& ir, const Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    return {info({2 * (numel(x.shape) / x.shape.back())}, DType::f32)};
}

ValueInfo infer_norm_backward(const GraphIR& ir, Node& n) {
    const ValueInfo &dy = operand(ir, n, 0), &x = operand(ir, n, 1);
    require_same_shape(n, dy, x);
    return info(x.shape, x.dtype);
}

std::vector<ValueInfo> aux_norm_backward(const GraphIR& ir, const Node& n) {
    const ValueInfo& g = operand(ir, n, 2);
    return {info(g.shape, g.dtype), info(g.shape, g.dtype)};
}

std::vector<int> vjp_norm(GraphIR& ir, const Node& n, int dy, const std::vector<bool>& need) {
    const bool bn = n.kind == OpKind::batch_norm2d;
    if (bn && !n.attrs.training)
        throw UnsupportedError("grad: batch_norm2d %" + std::to_string(n.output) +
                               " normalises with running statistics (evaluation); only training-mode "
                               "normalisation has a gradient here");
    std::vector<int> in{dy, n.inputs[0], n.inputs[1]};
    if (!bn) in.push_back(n.aux.at(0));  // layer_norm's saved mean and 1/std
    const int dx = emit(ir, bn ? OpKind::batch_norm2d_backward : OpKind::layer_norm_backward, in, n.attrs);
    const Node& back = ir.producer(dx);
    return {need[0] ? dx : -1, need[1] ? back.aux[0] : -1, need[2] ? back.aux[1] : -1};
}

void lower_batch_norm2d(const LowerArgs& x) {
    BatchNormStats stats = x.node.attrs.bn_stats;
    record_batch_norm2d(x.cl, x.ctx.impl(), x.in[0], x.in[1], x.in[2], stats, x.out, x.node.attrs.training,
                        x.node.attrs.bn, x.opt);
}

void lower_batch_norm2d_backward(const LowerArgs& x) {
    record_batch_norm2d_backward(x.cl, x.ctx.impl(), x.in[0], x.in[1], x.in[2], x.node.attrs.bn_stats, x.out,
                                 x.aux[0], x.aux[1], x.node.attrs.bn, x.opt,
                                 {(x.aux_accumulate & 1u) != 0, (x.aux_accumulate & 2u) != 0});
}

void lower_layer_norm(const LowerArgs& x) {
    record_layer_norm(x.cl, x.ctx.impl(), x.in[0], x.in[1], x.in[2], x.out, x.aux[0], x.node.attrs.eps,
                      x.opt);
}

void lower_layer_norm_backward(const LowerArgs& x) {
    record_layer_norm_backward(x.cl, x.ctx.impl(), x.in[0], x.in[1], x.in[2], x.in[3], x.out, x.aux[0], x.aux[1],
                               x.opt, {(x.aux_accumulate & 1u) != 0, (x.aux_accumulate & 2u) != 0});
}

// ---- dropout: the backward draws the same mask from the same state ----------------------------

std::vector<int> vjp_dropout(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    Attrs a = n.attrs;
    a.source = n.output;
    return {emit(ir, OpKind::dropout_backward, {dy}, a)};
}

// The forward keeps the state for its backward, which then moves it on; a forward whose
// backward is not compiled moves it on itself (advance_rng, set by the compiler). Each mask is
// drawn once per run, and the next dropout on the same state draws a new one.
void lower_dropout(const LowerArgs& x, bool backward) {
    Tensor rng = x.node.attrs.rng_state;
    const RngAdvance adv = x.advance_rng ? RngAdvance::advance : RngAdvance::keep;
    if (backward)
        record_dropout_backward(x.cl, x.ctx.impl(), x.in[0], x.out, x.node.attrs.p, rng, adv, x.opt);
    else
        record_dropout(x.cl, x.ctx.impl(), x.in[0], x.out, x.node.attrs.p, rng, adv, x.opt);
}

// ---- softmax cross-entropy over classes, fused with the training state -----------------------

ValueInfo infer_softmax_xent(const GraphIR& ir, Node& n) {
    const ValueInfo &z = operand(ir, n, 0), &l = operand(ir, n, 1);
    require_float(n, z, "logits");
    if (z.shape.size() != 2 || l.dtype != DType::u32 || l.shape != Shape{z.shape[0]})
        throw ShapeError("softmax_cross_entropy: logits [rows, classes] and u32 labels [rows], got " +
                         to_string(z.shape) + " and " + to_string(l.shape) + " " + std::string(to_string(l.dtype)));
    if (!n.attrs.state.defined()) throw Error("softmax_cross_entropy: no training state tensor");
    if (n.kind == OpKind::softmax_xent_grad) return info(z.shape, z.dtype);
    return info({1}, DType::f32);
}

// The kernel seeds the gradient with the loss scale S it reads from the state on the device, so
// the host seed must be 1 (S is dynamic: the step never returns to the host).
std::vector<int> vjp_softmax_xent(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    const Node& seed = ir.producer(dy);
    if (seed.kind != OpKind::constant || seed.attrs.alpha != 1.0f)
        throw UnsupportedError("grad: softmax_cross_entropy %" + std::to_string(n.output) +
                               " must be the loss itself with seed 1: it scales its gradient by the loss "
                               "scale in the training state");
    return {emit(ir, OpKind::softmax_xent_grad, {n.inputs[0], n.inputs[1], dy}, n.attrs), -1};
}

void lower_softmax_xent(const LowerArgs& x, bool with_grad) {
    Tensor state = x.node.attrs.state;
    Tensor dz = with_grad ? x.out : x.in[0];  // evaluation: bound, never written
    record_softmax_xent(x.cl, x.ctx.impl(), x.in[0], x.in[1], state, dz, with_grad,
                        x.node.attrs.label_smoothing, x.node.attrs.mean_over, x.node.attrs.ignore_index);
}


// ---- layout: one strided-gather kernel behind permute, slice, pad and expand ------------------

std::vector<int64_t> row_major_strides(const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (std::size_t k = s.size(); k-- > 1;) st[k - 1] = st[k] * s[k];
    return st;
}

void require_rank(const Node& n, const Shape& s) {
    if (s.empty() || s.size() > kMaxGatherRank)
        throw ShapeError(op_name(n) + ": 1 to " + std::to_string(kMaxGatherRank) + " dimensions, got " + to_string(s));
}

int64_t normal_axis(const Node& n, int64_t axis, std::size_t rank) {
    const int64_t r = int64_t(rank);
    if (axis < -r || axis >= r)
        throw ShapeError(op_name(n) + ": axis " + std::to_string(axis) + " of a " + std::to_string(rank) + "-D value");
    return axis < 0 ? axis + r : axis;
}

ValueInfo infer_permute(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    require_rank(n, x.shape);
    std::vector<bool> seen(x.shape.size(), false);
    if (n.attrs.dims.size() != x.shape.size())
        throw ShapeError("permute: " + std::to_string(n.attrs.dims.size()) + " dimensions for " + to_string(x.shape));
    Shape y;
    for (int64_t& d : n.attrs.dims) {
        d = normal_axis(n, d, x.shape.size());
        if (seen[std::size_t(d)]) throw ShapeError("permute: dimension " + std::to_string(d) + " given twice");
        seen[std::size_t(d)] = true;
        y.push_back(x.shape[std::size_t(d)]);
    }
    return info(y, x.dtype);
}

std::vector<int> vjp_permute(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    Attrs a;
    a.dims.resize(n.attrs.dims.size());
    for (std::size_t k = 0; k < n.attrs.dims.size(); ++k) a.dims[std::size_t(n.attrs.dims[k])] = int64_t(k);
    return {emit(ir, OpKind::permute, {dy}, a)};
}

void lower_permute(const LowerArgs& x) {
    const Shape& in = x.in[0].shape();
    const std::vector<int64_t> st = row_major_strides(in);
    GatherMap m;
    for (int64_t d : x.node.attrs.dims) {
        m.stride.push_back(st[std::size_t(d)]);
        m.lo.push_back(0);
        m.in_ext.push_back(in[std::size_t(d)]);
    }
    record_strided_gather(x.cl, x.ctx.impl(), x.in[0], x.out, m, x.opt);
}

ValueInfo infer_slice(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    require_rank(n, x.shape);
    Attrs& a = n.attrs;
    a.axis = normal_axis(n, a.axis, x.shape.size());
    const int64_t extent = x.shape[std::size_t(a.axis)];
    if (a.start < 0 || a.length < 1 || a.start + a.length > extent)
        throw ShapeError("slice: [" + std::to_string(a.start) + ", " + std::to_string(a.start + a.length) +
                         ") of axis " + std::to_string(a.axis) + " (extent " + std::to_string(extent) + ") of " +
                         to_string(x.shape));
    Shape y = x.shape;
    y[std::size_t(a.axis)] = a.length;
    return info(y, x.dtype);
}

std::vector<int> vjp_slice(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    Attrs a = n.attrs;
    a.shape = ir.value(n.inputs[0]).shape;
    return {emit(ir, OpKind::pad, {dy}, a)};
}

void lower_slice(const LowerArgs& x) {
    const std::vector<int64_t> st = row_major_strides(x.in[0].shape());
    GatherMap m;
    m.offset = x.node.attrs.start * st[std::size_t(x.node.attrs.axis)];
    m.stride = st;
    m.lo.assign(st.size(), 0);
    m.in_ext = x.out.shape();
    record_strided_gather(x.cl, x.ctx.impl(), x.in[0], x.out, m, x.opt);
}

ValueInfo infer_pad(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    const Attrs& a = n.attrs;
    Shape expect = a.shape;
    if (expect.size() != x.shape.size() || a.axis < 0 || a.axis >= int64_t(expect.size()) ||
        a.start + x.shape[std::size_t(a.axis)] > expect[std::size_t(a.axis)])
        throw ShapeError("pad: " + to_string(x.shape) + " does not fit " + to_string(a.shape));
    expect[std::size_t(a.axis)] = x.shape[std::size_t(a.axis)];
    if (expect != x.shape) throw ShapeError("pad: " + to_string(x.shape) + " does not fit " + to_string(a.shape));
    return info(a.shape, x.dtype);
}

std::vector<int> vjp_pad(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    Attrs a = n.attrs;
    a.length = ir.value(n.inputs[0]).shape[std::size_t(a.axis)];
    return {emit(ir, OpKind::slice, {dy}, a)};
}

void lower_pad(const LowerArgs& x) {
    GatherMap m;
    m.stride = row_major_strides(x.in[0].shape());
    m.lo.assign(m.stride.size(), 0);
    m.lo[std::size_t(x.node.attrs.axis)] = x.node.attrs.start;
    m.in_ext = x.in[0].shape();
    record_strided_gather(x.cl, x.ctx.impl(), x.in[0], x.out, m, x.opt);
}

ValueInfo infer_expand(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    const Shape& y = n.attrs.shape;
    require_rank(n, y);
    bool fits = x.shape.size() <= y.size();
    for (std::size_t k = 0; fits && k < x.shape.size(); ++k) {
        const int64_t xe = x.shape[x.shape.size() - 1 - k], ye = y[y.size() - 1 - k];
        fits = xe == ye || xe == 1;
    }
    if (!fits) throw ShapeError("expand: " + to_string(x.shape) + " does not broadcast to " + to_string(y));
    return info(y, x.dtype);
}

// The sum of dy over the dimensions expand repeated, reshaped to x's shape: rows or columns of
// a 2-D view where the repeated dimensions lead or trail, else after a permute.
int sum_to_shape(GraphIR& ir, int dy, const Shape& x_shape) {
    const Shape y = ir.value(dy).shape;
    const std::size_t lead = y.size() - x_shape.size();
    std::vector<bool> reduced(y.size());
    for (std::size_t k = 0; k < y.size(); ++k) reduced[k] = k < lead || (x_shape[k - lead] == 1 && y[k] != 1);
    std::vector<int64_t> kept_dims, reduced_dims;
    int64_t kept = 1, summed = 1;
    for (std::size_t k = 0; k < y.size(); ++k) {
        (reduced[k] ? reduced_dims : kept_dims).push_back(int64_t(k));
        (reduced[k] ? summed : kept) *= y[k];
    }
    Attrs r;
    r.shape = x_shape;
    if (reduced_dims.empty()) return emit(ir, OpKind::reshape, {dy}, r);
    const bool leading = reduced_dims.back() == int64_t(reduced_dims.size()) - 1;
    Attrs flat;
    int v = dy;
    if (!leading) {
        const bool trailing = reduced_dims.front() == int64_t(kept_dims.size());
        if (!trailing) {
            Attrs p;
            p.dims = kept_dims;
            p.dims.insert(p.dims.end(), reduced_dims.begin(), reduced_dims.end());
            v = emit(ir, OpKind::permute, {v}, p);
        }
        flat.shape = {kept, summed};
        v = emit(ir, OpKind::row_sum, {emit(ir, OpKind::reshape, {v}, flat)});
    } else {
        flat.shape = {summed, kept};
        v = emit(ir, OpKind::col_sum, {emit(ir, OpKind::reshape, {v}, flat)});
    }
    return emit(ir, OpKind::reshape, {v}, r);
}

std::vector<int> vjp_expand(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    return {sum_to_shape(ir, dy, ir.value(n.inputs[0]).shape)};
}

void lower_expand(const LowerArgs& x) {
    const Shape& in = x.in[0].shape();
    const Shape& out = x.out.shape();
    const std::vector<int64_t> st = row_major_strides(in);
    const std::size_t lead = out.size() - in.size();
    GatherMap m;
    for (std::size_t k = 0; k < out.size(); ++k) {
        const bool repeated = k < lead || in[k - lead] != out[k];
        m.stride.push_back(repeated ? 0 : st[k - lead]);
        m.lo.push_back(0);
        m.in_ext.push_back(out[k]);
    }
    record_strided_gather(x.cl, x.ctx.impl(), x.in[0], x.out, m, x.opt);
}

ValueInfo infer_rows_cols(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    require_float(n, x, "x");
    if (x.shape.size() != 2) throw ShapeError(op_name(n) + ": x must be 2-D, got " + to_string(x.shape));
    return info({x.shape[n.kind == OpKind::row_sum ? 0 : 1]}, x.dtype);
}

// d(sum)/dx repeats dy along the summed dimension.
std::vector<int> vjp_rows_cols(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    const Shape& xs = ir.value(n.inputs[0]).shape;
    Attrs r, e;
    r.shape = n.kind == OpKind::row_sum ? Shape{xs[0], 1} : Shape{1, xs[1]};
    e.shape = xs;
    return {emit(ir, OpKind::expand, {emit(ir, OpKind::reshape, {dy}, r)}, e)};
}

void lower_rows_cols(const LowerArgs& x) {
    record_bias_grad(x.cl, x.ctx.impl(), x.in[0], x.out,
                     x.node.kind == OpKind::row_sum ? BiasMode::per_row : BiasMode::per_column, x.opt);
}

// ---- cast: f32 <-> f16 -------------------------------------------------------------------

ValueInfo infer_cast(const GraphIR& ir, Node& n) {
    const ValueInfo& x = operand(ir, n, 0);
    require_float(n, x, "the operand");
    if (n.attrs.dtype != DType::f32 && n.attrs.dtype != DType::f16)
        throw DTypeError("cast: the target must be f32 or f16, got " + std::string(to_string(n.attrs.dtype)));
    if (n.attrs.dtype == x.dtype)
        throw DTypeError("cast: the operand already is " + std::string(to_string(x.dtype)));
    return info(x.shape, n.attrs.dtype);
}

// The gradient goes back to the operand's dtype (rounded to nearest even when that is f16).
std::vector<int> vjp_cast(GraphIR& ir, const Node& n, int dy, const std::vector<bool>&) {
    Attrs a;
    a.dtype = ir.value(n.inputs[0]).dtype;
    return {emit(ir, OpKind::cast, {dy}, a)};
}

const std::array<OpDef, std::size_t(OpKind::count)> kOps = [] {
    std::array<OpDef, std::size_t(OpKind::count)> t{};
    auto set = [&](OpKind k, OpDef d) { t[std::size_t(k)] = d; };
    set(OpKind::leaf, {"leaf", nullptr, nullptr, nullptr, nullptr});
    set(OpKind::constant, {"constant", nullptr, nullptr, nullptr, nullptr});
    set(OpKind::matmul, {"matmul", infer_matmul, nullptr, vjp_matmul, lower_matmul});
    set(OpKind::bias_grad, {"bias_grad", infer_bias_grad, nullptr, nullptr, lower_bias_grad});
    set(OpKind::add, {"add", infer_elementwise, nullptr, vjp_add,
                      [](const LowerArgs& x) { lower_elementwise(x, ElementwiseOp::add); }});
    set(OpKind::mul, {"mul", infer_elementwise, nullptr, vjp_mul,
                      [](const LowerArgs& x) { lower_elementwise(x, ElementwiseOp::mul); }});
    set(OpKind::div, {"div", infer_elementwise, nullptr, vjp_div,
                      [](const LowerArgs& x) { lower_elementwise(x, ElementwiseOp::div); }});
    set(OpKind::scale, {"scale", infer_elementwise, nullptr, vjp_scale,
                        [](const LowerArgs& x) { lower_elementwise(x, ElementwiseOp::scale); }});
    set(OpKind::relu, {"relu", infer_elementwise, nullptr, vjp_relu,
                       [](const LowerArgs& x) { lower_elementwise(x, ElementwiseOp::relu); }});
    set(OpKind::relu_backward, {"relu_backward", infer_elementwise, nullptr, nullptr,
                                [](const LowerArgs& x) { lower_elementwise(x, ElementwiseOp::relu_backward); }});
    set(OpKind::activation, {"activation", infer_elementwise, nullptr, vjp_activation, [](const LowerArgs& x) {
                                 record_activation(x.cl, x.ctx.impl(), x.node.attrs.activation, x.in[0], x.out,
                                                   x.opt);
                             }});
    set(OpKind::activation_backward,
        {"activation_backward", infer_elementwise, nullptr, nullptr, [](const LowerArgs& x) {
             record_activation_backward(x.cl, x.ctx.impl(), x.node.attrs.activation, x.in[0], x.in[1], x.out,
                                        x.opt);
         }});
    set(OpKind::reshape, {"reshape", infer_reshape, nullptr, vjp_reshape, nullptr});
    set(OpKind::conv2d, {"conv2d", infer_conv2d, nullptr, vjp_conv2d, lower_conv2d});
    set(OpKind::conv2d_backward_data,
        {"conv2d_backward_data", infer_from_attrs, nullptr, nullptr, [](const LowerArgs& x) {
             record_conv2d_backward_data(x.cl, x.ctx, x.in[0], x.in[1], x.out, x.node.attrs.conv, x.opt);
         }});
    set(OpKind::conv2d_backward_weight,
        {"conv2d_backward_weight", infer_from_attrs, nullptr, nullptr, [](const LowerArgs& x) {
             record_conv2d_backward_weight(x.cl, x.ctx, x.in[0], x.in[1], x.out, x.node.attrs.conv, x.opt,
                                           x.beta != 0.0f);
         }});
    set(OpKind::avg_pool2d, {"avg_pool2d", infer_avg_pool2d, nullptr, vjp_avg_pool2d, [](const LowerArgs& x) {
                                 record_avg_pool2d(x.cl, x.ctx.impl(), x.in[0], x.out, x.node.attrs.pool, x.opt);
                             }});
    set(OpKind::avg_pool2d_backward,
        {"avg_pool2d_backward", infer_from_attrs, nullptr, nullptr, [](const LowerArgs& x) {
             record_avg_pool2d_backward(x.cl, x.ctx.impl(), x.in[0], x.out, x.node.attrs.pool, x.opt);
         }});
    set(OpKind::mse_loss, {"mse_loss", infer_mse_loss, nullptr, vjp_mse_loss, lower_mse_loss});
    set(OpKind::mse_loss_grad, {"mse_loss_grad", infer_mse_loss_grad, nullptr, nullptr, lower_mse_loss_grad});
    set(OpKind::max_pool2d, {"max_pool2d", infer_max_pool2d, aux_max_pool2d, vjp_max_pool2d, [](const LowerArgs& x) {
                                 record_max_pool2d(x.cl, x.ctx.impl(), x.in[0], x.out, x.aux[0], x.node.attrs.pool,
                                                   x.opt);
                             }});
    set(OpKind::max_pool2d_backward,
        {"max_pool2d_backward", infer_from_attrs, nullptr, nullptr, [](const LowerArgs& x) {
             record_max_pool2d_backward(x.cl, x.ctx.impl(), x.in[0], x.in[1], x.out, x.node.attrs.pool, x.opt);
         }});
    set(OpKind::batch_norm2d, {"batch_norm2d", infer_norm, nullptr, vjp_norm, lower_batch_norm2d});
    set(OpKind::batch_norm2d_backward,
        {"batch_norm2d_backward", infer_norm_backward, aux_norm_backward, nullptr, lower_batch_norm2d_backward});
    set(OpKind::layer_norm, {"layer_norm", infer_norm, aux_layer_norm, vjp_norm, lower_layer_norm});
    set(OpKind::layer_norm_backward,
        {"layer_norm_backward", infer_norm_backward, aux_norm_backward, nullptr, lower_layer_norm_backward});
    set(OpKind::dropout, {"dropout", infer_elementwise, nullptr, vjp_dropout,
                          [](const LowerArgs& x) { lower_dropout(x, false); }});
    set(OpKind::dropout_backward, {"dropout_backward", infer_elementwise, nullptr, nullptr,
                                   [](const LowerArgs& x) { lower_dropout(x, true); }});
    set(OpKind::softmax_xent, {"softmax_xent", infer_softmax_xent, nullptr, vjp_softmax_xent,
                               [](const LowerArgs& x) { lower_softmax_xent(x, false); }});
    set(OpKind::softmax_xent_grad, {"softmax_xent_grad", infer_softmax_xent, nullptr, nullptr,
                                    [](const LowerArgs& x) { lower_softmax_xent(x, true); }});
    set(OpKind::permute, {"permute", infer_permute, nullptr, vjp_permute, lower_permute});
    set(OpKind::slice, {"slice", infer_slice, nullptr, vjp_slice, lower_slice});
    set(OpKind::pad, {"pad", infer_pad, nullptr, vjp_pad, lower_pad});
    set(OpKind::expand, {"expand", infer_expand, nullptr, vjp_expand, lower_expand});
    set(OpKind::row_sum, {"row_sum", infer_rows_cols, nullptr, vjp_rows_cols, lower_rows_cols});
    set(OpKind::col_sum, {"col_sum", infer_rows_cols, nullptr, vjp_rows_cols, lower_rows_cols});
    set(OpKind::embedding, {"embedding", infer_embedding, nullptr, vjp_embedding, [](const LowerArgs& x) {
                                record_embedding(x.cl, x.ctx.impl(), x.in[0], x.in[1], x.out, x.opt);
                            }});
    set(OpKind::softmax, {"softmax", infer_softmax, nullptr, vjp_softmax, [](const LowerArgs& x) {
                              record_softmax(x.cl, x.ctx.impl(), x.node.attrs.softmax, false, x.in[0], nullptr, x.out,
                                             x.opt);
                          }});
    set(OpKind::softmax_backward,
        {"softmax_backward", infer_softmax, nullptr, nullptr, [](const LowerArgs& x) {
             record_softmax(x.cl, x.ctx.impl(), x.node.attrs.softmax, true, x.in[0], &x.in[1], x.out, x.opt);
         }});
    set(OpKind::causal_attention,
        {"causal_attention", infer_causal_attention, aux_causal_attention, vjp_causal_attention,
         [](const LowerArgs& x) {
             record_causal_attention(x.cl, x.ctx.impl(), x.in[0], x.node.attrs.heads, x.out, x.aux[0], x.opt);
         }});
    set(OpKind::causal_attention_backward,
        {"causal_attention_backward", infer_causal_attention, aux_causal_attention, nullptr, [](const LowerArgs& x) {
             record_causal_attention_backward(x.cl, x.ctx.impl(), x.in[0], x.in[1], x.in[2], x.in[3],
                                              x.node.attrs.heads, x.out, x.aux[0], x.opt);
         }});
    set(OpKind::cast, {"cast", infer_cast, nullptr, vjp_cast,
                       [](const LowerArgs& x) { record_cast(x.cl, x.ctx.impl(), x.in[0], x.out); }});
    set(OpKind::embedding_backward,
        {"embedding_backward", infer_from_attrs, nullptr, nullptr, [](const LowerArgs& x) {
             record_embedding_backward(x.cl, x.ctx.impl(), x.in[0], x.in[1], x.out, x.opt);
         }});
    return t;
}();

std::string op_name(const Node& n) { return kOps[std::size_t(n.kind)].name; }

} // namespace

const OpDef& op_def(OpKind kind) { return kOps.at(std::size_t(kind)); }

int scaled(GraphIR& ir, int value, float alpha) {
    const Node& p = ir.producer(value);
    if (p.kind == OpKind::constant) {
        Attrs a;
        a.alpha = p.attrs.alpha * alpha;
        return emit(ir, OpKind::constant, {}, a);
    }
    Attrs a;
    a.alpha = alpha;
    return emit(ir, OpKind::scale, {value}, a);
}

int accumulate(GraphIR& ir, int a, int b) {
    const Node &pa = ir.producer(a), &pb = ir.producer(b);
    Attrs at;
    if (pa.kind == OpKind::constant && pb.kind == OpKind::constant) {
        at.alpha = pa.attrs.alpha + pb.attrs.alpha;
        return emit(ir, OpKind::constant, {}, at);
    }
    at.accumulate = true;
    return emit(ir, OpKind::add, {a, b}, at);
}

} // namespace vkhalf::detail
