// Builder: records nodes into a GraphIR. Each method names an op of the registry; the checks and
// the output's shape live with the op's declaration (src/ir/ops.cpp).
#include <cmath>
#include <sstream>

#include "ir/ir.hpp"
#include "ir/ops.hpp"
#include "runtime/context_impl.hpp"
#include "runtime/memory.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

namespace detail {

int GraphIR::add_node(OpKind kind, std::vector<int> inputs, Attrs attrs) {
    Node n;
    n.kind = kind;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    ValueInfo v;
    if (kind == OpKind::constant) {
        v.shape = {1};
        v.dtype = DType::f32;
    } else {
        v = op_def(kind).infer(*this, n);
    }
    n.output = int(values.size());
    v.producer = int(nodes.size());
    values.push_back(std::move(v));
    if (const auto aux = op_def(kind).infer_aux) {
        for (ValueInfo a : aux(*this, n)) {
            a.producer = int(nodes.size());
            n.aux.push_back(int(values.size()));
            values.push_back(std::move(a));
        }
    }
    nodes.push_back(std::move(n));
    return nodes.back().output;
}

int GraphIR::add_leaf(const Tensor& t, std::string name, bool requires_grad) {
    if (!t.defined()) throw Error("Builder: leaf '" + name + "' binds an undefined tensor");
    if (t.allocation().owner.get() != &ctx.impl())
        throw Error("Builder: leaf '" + name + "' lives on another Context");
    Node n;
    n.kind = OpKind::leaf;
    n.output = int(values.size());
    ValueInfo v;
    v.shape = t.shape();
    v.dtype = t.dtype();
    v.producer = int(nodes.size());
    v.tensor = t;
    v.name = std::move(name);
    v.requires_grad = requires_grad;
    values.push_back(std::move(v));
    nodes.push_back(std::move(n));
    return nodes.back().output;
}

} // namespace detail

using detail::Attrs;
using detail::OpKind;

Shape Value::shape() const {
    if (!ir_) throw Error("Value: undefined");
    return ir_->value(id_).shape;
}

DType Value::dtype() const {
    if (!ir_) throw Error("Value: undefined");
    return ir_->value(id_).dtype;
}

Builder::Builder(Context& ctx) : ir_(std::make_shared<detail::GraphIR>(ctx)) {}
Builder::~Builder() = default;
Context& Builder::context() const { return ir_->ctx; }
std::size_t Builder::node_count() const { return ir_->nodes.size(); }


Value Builder::input(const Tensor& t, std::string name, bool requires_grad) {
    return {ir_.get(), ir_->add_leaf(t, std::move(name), requires_grad)};
}

Value Builder::parameter(const Tensor& t, std::string name, bool requires_grad) {
    return {ir_.get(), ir_->add_leaf(t, std::move(name), requires_grad)};
}

// Values carry their graph; an operand recorded by another Builder is refused.
int Builder::operand(const Value& v, const char* op) const {
    if (!v.defined()) throw Error(std::string("Builder::") + op + ": an operand is an undefined Value");
    if (v.ir_ != ir_.get()) throw Error(std::string("Builder::") + op + ": a Value from another Builder");
    return v.id();
}

Value Builder::matmul(Value a, Value b, bool trans_a, bool trans_b) {
    Attrs at;
    at.trans_a = trans_a;
    at.trans_b = trans_b;
    return {ir_.get(), ir_->add_node(OpKind::matmul, {operand(a, "matmul"), operand(b, "matmul")}, at)};
}

Value Builder::linear(Value x, Value w, Value b) {
    if (x.defined() && x.shape().size() > 2) {  // [..., in]: one GEMM over every row
        Shape out = x.shape();
        const Value y = linear(reshape(x, {-1, out.back()}), w, b);
        out.back() = y.shape().back();
        return reshape(y, out);
    }
    Attrs at;
    at.trans_b = true;  // x W^T
    std::vector<int> in{operand(x, "linear"), operand(w, "linear")};
    if (b.defined()) in.push_back(operand(b, "linear"));
    return {ir_.get(), ir_->add_node(OpKind::matmul, std::move(in), at)};
}

// numpy's broadcast shape of two operands; ShapeError naming the op when there is none.
Shape Builder::broadcast(const Value& a, const Value& b, const char* op) const {
    const Shape &x = a.shape(), &y = b.shape();
    Shape out(std::max(x.size(), y.size()));
    for (std::size_t k = 0; k < out.size(); ++k) {
        const int64_t xe = k < x.size() ? x[x.size() - 1 - k] : 1, ye = k < y.size() ? y[y.size() - 1 - k] : 1;
        if (xe != ye && xe != 1 && ye != 1)
            throw ShapeError(std::string(op) + ": shapes " + vkhalf::to_string(x) + " and " + vkhalf::to_string(y) +
                             " do not broadcast");
        out[out.size() - 1 - k] = xe == 1 ? ye : xe;
    }
    return out;
}

Value Builder::elementwise(OpKind kind, Value a, Value b, const char* op) {
    const int ia = operand(a, op), ib = operand(b, op);
    if (a.shape() != b.shape() && a.dtype() == b.dtype()) {
        const Shape s = broadcast(a, b, op);
        if (a.shape() != s) a = expand(a, s);
        if (b.shape() != s) b = expand(b, s);
        return {ir_.get(), ir_->add_node(kind, {a.id(), b.id()}, {})};
    }
    return {ir_.get(), ir_->add_node(kind, {ia, ib}, {})};
}

Value Builder::add(Value a, Value b) { return elementwise(OpKind::add, a, b, "add"); }

Value Builder::sub(Value a, Value b) { return add(a, scale(b, -1.0f)); }

Value Builder::mul(Value a, Value b) { return elementwise(OpKind::mul, a, b, "mul"); }

Value Builder::div(Value a, Value b) { return elementwise(OpKind::div, a, b, "div"); }

Value Builder::softmax(Value x, bool causal) {
    Attrs at;
    at.softmax = causal ? SoftmaxKind::causal_softmax : SoftmaxKind::softmax;
    return {ir_.get(), ir_->add_node(OpKind::softmax, {operand(x, "softmax")}, at)};
}

Value Builder::log_softmax(Value x) {
    Attrs at;
    at.softmax = SoftmaxKind::log_softmax;
    return {ir_.get(), ir_->add_node(OpKind::softmax, {operand(x, "log_softmax")}, at)};
}

Value Builder::scaled_dot_product_attention(Value q, Value k, Value v, bool causal) {
    if (!q.defined() || !k.defined() || !v.defined() || q.shape().size() != 3 || k.shape() != q.shape() ||
        v.shape().size() != 3 || v.shape()[0] != q.shape()[0] || v.shape()[1] != q.shape()[1])
        throw ShapeError("scaled_dot_product_attention: q and k [n, T, d] and v [n, T, dv], got " +
                         (q.defined() ? vkhalf::to_string(q.shape()) : std::string("none")) + ", " +
                         (k.defined() ? vkhalf::to_string(k.shape()) : std::string("none")) + ", " +
                         (v.defined() ? vkhalf::to_string(v.shape()) : std::string("none")));
    const float scale = 1.0f / std::sqrt(float(q.shape()[2]));
    const Value scores = this->scale(matmul(q, k, false, true), scale);
    return matmul(softmax(scores, causal), v);
}

Value Builder::causal_self_attention(Value qkv, int64_t heads) {
    Attrs at;
    at.heads = heads;
    return {ir_.get(), ir_->add_node(OpKind::causal_attention, {operand(qkv, "causal_self_attention")}, at)};
}

Value Builder::embedding(Value table, Value indices) {
    return {ir_.get(), ir_->add_node(OpKind::embedding, {operand(table, "embedding"), operand(indices, "embedding")},
                                     {})};
}

Value Builder::permute(Value x, std::vector<int64_t> dims) {
    Attrs at;
    at.dims = std::move(dims);
    return {ir_.get(), ir_->add_node(OpKind::permute, {operand(x, "permute")}, at)};
}

Value Builder::transpose(Value x, int64_t dim0, int64_t dim1) {
    const auto rank = int64_t(x.shape().size());
    auto axis = [&](int64_t d) {
        if (d < -rank || d >= rank)
            throw ShapeError("transpose: dimension " + std::to_string(d) + " of " + vkhalf::to_string(x.shape()));
        return d < 0 ? d + rank : d;
    };
    std::vector<int64_t> dims(static_cast<std::size_t>(rank));
    for (int64_t k = 0; k < rank; ++k) dims[std::size_t(k)] = k;
    std::swap(dims[std::size_t(axis(dim0))], dims[std::size_t(axis(dim1))]);
    return permute(x, dims);
}

Value Builder::slice(Value x, int64_t axis, int64_t start, int64_t length) {
    Attrs at;
    at.axis = axis;
    at.start = start;
    at.length = length;
    return {ir_.get(), ir_->add_node(OpKind::slice, {operand(x, "slice")}, at)};
}

// Each part padded with zeros to the whole, then summed: k copies and k - 1 adds.
Value Builder::concat(std::span<const Value> xs, int64_t axis) {
    if (xs.empty()) throw ShapeError("concat: no values");
    Shape whole = xs[0].shape();
    const auto rank = int64_t(whole.size());
    if (axis < -rank || axis >= rank)
        throw ShapeError("concat: axis " + std::to_string(axis) + " of " + vkhalf::to_string(whole));
    const auto a = std::size_t(axis < 0 ? axis + rank : axis);
    whole[a] = 0;
    for (const Value& v : xs) {
        const Shape& s = v.shape();
        if (s.size() != whole.size() || v.dtype() != xs[0].dtype())
            throw ShapeError("concat: " + vkhalf::to_string(s) + " does not join " + vkhalf::to_string(xs[0].shape()));
        whole[a] += s[a];
        for (std::size_t k = 0; k < s.size(); ++k)
            if (k != a && s[k] != xs[0].shape()[k])
                throw ShapeError("concat: " + vkhalf::to_string(v.shape()) + " does not join " +
                                 vkhalf::to_string(xs[0].shape()) + " along axis " + std::to_string(a));
    }
    Value out;
    int64_t start = 0;
    for (const Value& v : xs) {
        Attrs at;
        at.axis = int64_t(a);
        at.start = start;
        at.shape = whole;
        const Value part{ir_.get(), ir_->add_node(OpKind::pad, {operand(v, "concat")}, at)};
        out = out.defined() ? add(out, part) : part;
        start += v.shape()[a];
    }
    return out;
}

Value Builder::expand(Value x, Shape shape) {
    Attrs at;
    at.shape = std::move(shape);
    return {ir_.get(), ir_->add_node(OpKind::expand, {operand(x, "expand")}, at)};
}

Value Builder::sum(Value x, std::vector<int64_t> axes, bool keepdim) {
    const Shape s = x.shape();
    const auto rank = int64_t(s.size());
    std::vector<bool> reduced(s.size(), false);
    for (int64_t ax : axes) {
        if (ax < -rank || ax >= rank)
            throw ShapeError("sum: axis " + std::to_string(ax) + " of " + vkhalf::to_string(s));
        reduced[std::size_t(ax < 0 ? ax + rank : ax)] = true;
    }
    std::vector<int64_t> kept_dims, reduced_dims;
    Shape out;
    int64_t kept = 1, summed = 1;
    for (std::size_t k = 0; k < s.size(); ++k) {
        (reduced[k] ? reduced_dims : kept_dims).push_back(int64_t(k));
        (reduced[k] ? summed : kept) *= s[k];
        if (!reduced[k] || keepdim) out.push_back(reduced[k] ? 1 : s[k]);
    }
    if (out.empty()) out = {1};
    if (reduced_dims.empty()) return reshape(x, out);
    Value v = x;
    const bool leading = reduced_dims.back() == int64_t(reduced_dims.size()) - 1;
    if (leading) {
        v = Value{ir_.get(), ir_->add_node(OpKind::col_sum, {reshape(v, {summed, kept}).id()}, {})};
    } else {
        if (reduced_dims.front() != int64_t(kept_dims.size())) {  // not trailing: move them last
            std::vector<int64_t> dims = kept_dims;
            dims.insert(dims.end(), reduced_dims.begin(), reduced_dims.end());
            v = permute(v, dims);
        }
        v = Value{ir_.get(), ir_->add_node(OpKind::row_sum, {reshape(v, {kept, summed}).id()}, {})};
    }
    return reshape(v, out);
}

Value Builder::mean(Value x, std::vector<int64_t> axes, bool keepdim) {
    const Shape s = x.shape();
    const Value total = sum(x, axes, keepdim);
    return scale(total, float(double(numel(total.shape())) / double(numel(s))));
}

Value Builder::silu(Value x) { return mul(x, activation(Activation::sigmoid, x)); }

Value Builder::scale(Value x, float alpha) {
    Attrs at;
    at.alpha = alpha;
    return {ir_.get(), ir_->add_node(OpKind::scale, {operand(x, "scale")}, at)};
}

Value Builder::cast(Value x, DType dtype) {
    const int id = operand(x, "cast");
    if (ir_->value(id).dtype == dtype) return x;
    Attrs at;
    at.dtype = dtype;
    return {ir_.get(), ir_->add_node(OpKind::cast, {id}, at)};
}

Value Builder::relu(Value x) { return {ir_.get(), ir_->add_node(OpKind::relu, {operand(x, "relu")}, {})}; }

Value Builder::activation(Activation f, Value x) {
    Attrs at;
    at.activation = f;
    return {ir_.get(), ir_->add_node(OpKind::activation, {operand(x, "activation")}, at)};
}

Value Builder::reshape(Value x, Shape shape) {
    Attrs at;
    at.shape = std::move(shape);
    return {ir_.get(), ir_->add_node(OpKind::reshape, {operand(x, "reshape")}, at)};
}

Value Builder::flatten(Value x) {
    const Shape s = x.shape();  // a copy: adding nodes may move the graph's value table
    if (s.empty()) throw ShapeError("flatten: a 0-D value");
    return reshape(x, {s[0], -1});
}

Value Builder::conv2d(Value x, Value w, Value b, const Conv2dParams& p) {
    Attrs at;
    at.conv = p;
    std::vector<int> in{operand(x, "conv2d"), operand(w, "conv2d")};
    if (b.defined()) in.push_back(operand(b, "conv2d"));
    return {ir_.get(), ir_->add_node(OpKind::conv2d, std::move(in), at)};
}

Value Builder::avg_pool2d(Value x, const Pool2dParams& p) {
    Attrs at;
    at.pool = p;
    return {ir_.get(), ir_->add_node(OpKind::avg_pool2d, {operand(x, "avg_pool2d")}, at)};
}

Value Builder::max_pool2d(Value x, const Pool2dParams& p) {
    Attrs at;
    at.pool = p;
    return {ir_.get(), ir_->add_node(OpKind::max_pool2d, {operand(x, "max_pool2d")}, at)};
}

Value Builder::batch_norm2d(Value x, Value gamma, Value beta, const BatchNormStats& stats, bool training,
                            const BatchNormParams& p) {
    if (!stats.data.defined()) throw Error("Builder::batch_norm2d: undefined statistics (BatchNormStats::create)");
    Attrs at;
    at.bn = p;
    at.bn_stats = stats;
    at.training = training;
    return {ir_.get(), ir_->add_node(OpKind::batch_norm2d,
                                     {operand(x, "batch_norm2d"), operand(gamma, "batch_norm2d"),
                                      operand(beta, "batch_norm2d")},
                                     at)};
}

Value Builder::layer_norm(Value x, Value gamma, Value beta, float eps) {
    Attrs at;
    at.eps = eps;
    return {ir_.get(),
            ir_->add_node(OpKind::layer_norm,
                          {operand(x, "layer_norm"), operand(gamma, "layer_norm"), operand(beta, "layer_norm")}, at)};
}

Value Builder::dropout(Value x, float p, const Tensor& rng_state) {
    if (!(p >= 0.0f && p < 1.0f)) throw Error("Builder::dropout: p must be in [0, 1), got " + std::to_string(p));
    if (!rng_state.defined() || rng_state.dtype() != DType::u32 || rng_state.numel() != 2)
        throw ShapeError("Builder::dropout: rng_state must be a u32 [2] tensor (make_rng_state)");
    Attrs at;
    at.p = p;
    at.rng_state = rng_state;
    return {ir_.get(), ir_->add_node(OpKind::dropout, {operand(x, "dropout")}, at)};
}

Value Builder::softmax_cross_entropy(Value logits, Value labels, const Tensor& state, float label_smoothing,
                                     uint32_t mean_over, uint32_t ignore_index) {
    Attrs at;
    at.state = state;
    at.label_smoothing = label_smoothing;
    at.mean_over = mean_over;
    at.ignore_index = ignore_index;
    if (ignore_index != kNoIgnore && mean_over != 0)
        throw UnsupportedError("softmax_cross_entropy: ignore_index averages over the rows it keeps; mean_over "
                               "must be 0");
    // Positions of a sequence are rows: [..., classes] as [rows, classes] (views).
    if (logits.defined() && labels.defined() && logits.shape().size() > 2) {
        logits = reshape(logits, {-1, logits.shape().back()});
        labels = reshape(labels, {-1});
    }
    return {ir_.get(), ir_->add_node(OpKind::softmax_xent,
                                     {operand(logits, "softmax_cross_entropy"),
                                      operand(labels, "softmax_cross_entropy")},
                                     at)};
}

Value Builder::mse_loss(Value y, Value target) {
    return {ir_.get(),
            ir_->add_node(OpKind::mse_loss, {operand(y, "mse_loss"), operand(target, "mse_loss")}, {})};
}

Value Builder::mse_loss(Value y, Value target, const Tensor& state, uint32_t mean_over) {
    if (!state.defined()) throw Error("mse_loss: no training state tensor");
    Attrs at;
    at.state = state;
    at.mean_over = mean_over;
    return {ir_.get(),
            ir_->add_node(OpKind::mse_loss, {operand(y, "mse_loss"), operand(target, "mse_loss")}, std::move(at))};
}


Value Builder::apply(std::string_view op, std::span<const Value> inputs, const OpAttributes& attrs) {
    static constexpr OpKind kApplicable[] = {OpKind::matmul,     OpKind::add,        OpKind::mul,        OpKind::div,
                                             OpKind::scale,      OpKind::relu,       OpKind::activation,
                                             OpKind::reshape,    OpKind::conv2d,     OpKind::avg_pool2d,
                                             OpKind::max_pool2d, OpKind::layer_norm, OpKind::mse_loss,
                                             OpKind::embedding,  OpKind::causal_attention, OpKind::cast};
    for (OpKind k : kApplicable) {
        if (op != detail::op_def(k).name) continue;
        const std::size_t arity = k == OpKind::layer_norm ? 3
                                  : (k == OpKind::matmul || k == OpKind::conv2d || k == OpKind::add ||
                                     k == OpKind::mul || k == OpKind::div || k == OpKind::mse_loss ||
                                     k == OpKind::embedding)
                                      ? 2
                                      : 1;
        const bool optional_bias = k == OpKind::matmul || k == OpKind::conv2d;
        if (inputs.size() != arity && !(optional_bias && inputs.size() == arity + 1))
            throw Error("Builder::apply: " + std::string(op) + " takes " + std::to_string(arity) +
                        (optional_bias ? " or " + std::to_string(arity + 1) : std::string()) + " operands, got " +
                        std::to_string(inputs.size()));
        std::vector<int> in;
        for (const Value& v : inputs) in.push_back(operand(v, "apply"));
        Attrs at;
        static_cast<OpAttributes&>(at) = attrs;
        return {ir_.get(), ir_->add_node(k, std::move(in), std::move(at))};
    }
    throw Error("Builder::apply: no op '" + std::string(op) +
                "' (matmul, add, mul, div, scale, relu, activation, reshape, conv2d, avg_pool2d, max_pool2d, layer_norm, "
                "mse_loss, embedding, causal_attention, cast)");
}

std::string Builder::to_string() const {
    std::ostringstream s;
    for (const detail::Node& n : ir_->nodes) {
        const detail::ValueInfo& v = ir_->value(n.output);
        s << '%' << n.output << " = " << detail::op_def(n.kind).name << '(';
        for (std::size_t i = 0; i < n.inputs.size(); ++i) s << (i ? ", %" : "%") << n.inputs[i];
        if (n.kind == OpKind::leaf) s << '"' << v.name << '"' << (v.requires_grad ? " requires_grad" : "");
        if (n.kind == OpKind::constant) s << n.attrs.alpha;
        s << ") " << vkhalf::to_string(v.shape) << ' ' << vkhalf::to_string(v.dtype);
        if (n.attrs.trans_a) s << " trans_a";
        if (n.attrs.trans_b) s << " trans_b";
        if (n.attrs.accumulate) s << " accumulate";
        s << '\n';
    }
    return s.str();
}

} // namespace vkhalf
