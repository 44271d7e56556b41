// Host side of shaders/attention.comp: fused causal self-attention over a packed q/k/v
// projection, forward and backward, with no T x T matrix in memory.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

struct AttentionPush {
    uint32_t batch, heads, T, groups_per_head;
    float scale;
};

// The head dimension is a specialization constant sizing per-invocation fp32 arrays; even, so
// every invocation stores whole pairs (the packed tier).
constexpr int64_t kMaxHeadDim = 256;

AttentionPush check_attention(const char* op, const Tensor& qkv, int64_t heads) {
    check_defined(op, qkv, "qkv");
    const Shape& s = qkv.shape();
    if (s.size() != 3 || s[2] % 3 != 0 || heads < 1 || (s[2] / 3) % heads != 0)
        throw ShapeError(std::string(op) + ": qkv must be [batch, T, 3 C] with C a multiple of " +
                         std::to_string(heads) + " heads, got " + to_string(s));
    const int64_t d = s[2] / 3 / heads;
    if (d % 2 != 0 || d > kMaxHeadDim)
        throw UnsupportedError(std::string(op) + ": the fused kernel needs an even head dimension of at most " +
                               std::to_string(kMaxHeadDim) + ", got " + std::to_string(d) +
                               " (the composed form, Builder::scaled_dot_product_attention, has no such limit)");
    if (qkv.dtype() != DType::f32 && qkv.dtype() != DType::f16)
        throw DTypeError(std::string(op) + ": qkv must be f32 or f16, got " + std::string(to_string(qkv.dtype())));
    if (qkv.numel() > std::numeric_limits<int32_t>::max()) throw LimitError(std::string(op) + ": more than 2^31 elements");
    return {uint32_t(s[0]), uint32_t(heads), uint32_t(s[1]), 0, float(1.0 / std::sqrt(double(d)))};
}

void check_f32(const char* op, const Tensor& t, const char* name, int64_t n) {
    check_defined(op, t, name);
    if (t.dtype() != DType::f32 || t.numel() != n)
        throw ShapeError(std::string(op) + ": " + name + " must be f32 with " + std::to_string(n) + " elements, got " +
                         std::string(to_string(t.dtype())) + " " + to_string(t.shape()));
}

void check_y(const char* op, const Tensor& qkv, const Tensor& y, const char* name) {
    check_defined(op, y, name);
    check_same_dtype(op, qkv, y);
    const Shape want{qkv.shape()[0], qkv.shape()[1], qkv.shape()[2] / 3};
    if (y.shape() != want)
        throw ShapeError(std::string(op) + ": " + name + " must be " + to_string(want) + ", got " + to_string(y.shape()));
}

// How a pass runs: workgroups of consecutive positions of one (batch, head), no larger than T
// needs, and the rows per staged tile that fit the shared memory (at most 16 KiB: two rows of
// head_dim floats, an lse and a delta per row); CPU devices stage nothing (barrier_free_kernels).
struct AttentionLaunch {
    uint32_t wg, tile, groups;
    bool staged, vec4;
};

AttentionLaunch launch(const ContextImpl& ctx, AttentionPush& push, uint32_t head_dim) {
    AttentionLaunch l;
    l.wg = workgroup_size(ctx.caps, std::bit_ceil(std::clamp<uint32_t>(push.T, 8, 256)));
    const uint32_t budget = std::min<uint32_t>(ctx.caps.max_shared_memory, 16384);
    l.staged = !ctx.caps.barrier_free_kernels;
    l.vec4 = !l.staged && head_dim % 4 == 0;  // rows (and heads) start at multiples of 4 elements
    l.tile = l.staged ? std::min(l.wg, std::bit_floor(std::max<uint32_t>(1, budget / (8 * head_dim + 8)))) : 1;
    push.groups_per_head = uint32_t(ceil_div(push.T, l.wg));
    l.groups = push.batch * push.heads * push.groups_per_head;
    return l;
}

const Pipeline& attention_pipeline(ContextImpl& ctx, Variant v, uint32_t mode, uint32_t head_dim,
                                   const AttentionLaunch& l) {
    return ctx.pipelines->get(
        {module_name("attention", v), 8, sizeof(AttentionPush), l.wg,
         {{1, mode}, {2, head_dim}, {3, l.tile}, {4, l.staged}, {5, l.vec4}}});
}

} // namespace

void record_causal_attention(CommandList& cl, ContextImpl& ctx, const Tensor& qkv, int64_t heads, Tensor& y,
                             Tensor& lse, const OpOptions& opt) {
    const char* op = "causal_attention";
    AttentionPush push = check_attention(op, qkv, heads);
    check_y(op, qkv, y, "y");
    const int64_t rows = int64_t(push.batch) * push.heads * push.T;
    check_f32(op, lse, "lse", rows);
    const Variant v = resolve_variant(op, ctx.caps, qkv.dtype(), opt);
    const auto d = uint32_t(qkv.shape()[2] / 3 / heads);
    const AttentionLaunch l = launch(ctx, push, d);
    // Bindings 2, 4, 5 and 7 belong to the backward: stand-ins; the writable ones count as writes.
    const BufferAccess b[] = {read(qkv), write(y), read(qkv), write(lse), write(lse), write(y), read(qkv), read(qkv)};
    cl.dispatch(attention_pipeline(ctx, v, 0, d, l), b, &push, sizeof(push), l.groups, op);
}

void record_causal_attention_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& qkv,
                                      const Tensor& y, const Tensor& lse, int64_t heads, Tensor& dqkv, Tensor& delta,
                                      const OpOptions& opt) {
    const char* op = "causal_attention_backward";
    AttentionPush push = check_attention(op, qkv, heads);
    check_y(op, qkv, y, "y");
    check_y(op, qkv, dy, "dy");
    check_defined(op, dqkv, "dqkv");
    check_same_dtype(op, qkv, dqkv);
    check_same_shape(op, qkv, dqkv);
    const int64_t rows = int64_t(push.batch) * push.heads * push.T;
    check_f32(op, lse, "lse", rows);
    check_f32(op, delta, "delta", rows);
    const Variant v = resolve_variant(op, ctx.caps, qkv.dtype(), opt);
    const auto d = uint32_t(qkv.shape()[2] / 3 / heads);
    const AttentionLaunch l = launch(ctx, push, d);
    // y and lse are the forward's results, read here (their bindings are writable: the forward's).
    const BufferAccess b[] = {read(qkv),         read_write(y), read(dy),  read_write(lse),
                              read_write(delta), write(dqkv),   read(qkv), read(dy)};
    // dq (and delta) first; dk and dv read delta, and write the other two thirds of dqkv.
    cl.dispatch(attention_pipeline(ctx, v, 1, d, l), b, &push, sizeof(push), l.groups, "causal_attention.dq");
    cl.dispatch(attention_pipeline(ctx, v, 2, d, l), b, &push, sizeof(push), l.groups, "causal_attention.dkv");
}

} // namespace vkhalf::detail
