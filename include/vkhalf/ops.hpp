#pragma once
// Eager element-wise ops, casts and reductions: each call records, submits and waits. Those the
// graph has too (add, mul, div, scale, relu, cast, softmax, embedding, attention) run through the
// op's one declaration (src/ir/ops.cpp): the same checks and kernel as a graph node.
// The variant defaults to the best tier the device supports for the tensors' dtype.
#include <optional>
#include <string>

#include "vkhalf/tensor.hpp"

namespace vkhalf {

struct OpOptions {
    std::optional<Variant> variant;  // force a tier (tests, benchmarks); must suit the dtype
};

void add(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt = {});
void mul(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt = {});
// y = a / b, in fp32 in every tier (one rounding to the storage type).
void div(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt = {});
void scale(Context& ctx, const Tensor& a, float alpha, Tensor& y, OpOptions opt = {});
void relu(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt = {});
// dx = dy where x > 0, else 0
void relu_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt = {});

// f32 <-> f16 conversion (round to nearest even), bit-exact on every device.
void cast(Context& ctx, const Tensor& src, Tensor& dst);

// Sum of every element of x, accumulated in fp32, into the 1-element f32 tensor out.
void sum(Context& ctx, const Tensor& x, Tensor& out, OpOptions opt = {});
float sum(Context& ctx, const Tensor& x, OpOptions opt = {});

// ---- GEMM ---------------------------------------------------------------------------------
// C = alpha * op(A) * op(B) + beta * C (+ bias) (relu), fp32 accumulation always.
//   A: [M, K] ([K, M] with trans_a), B: [K, N] ([N, K] with trans_b); a leading batch dimension
//   on A and/or B (a 2-D operand is shared by every batch) makes C [batch, M, N].
//   A and B share a dtype; C is f16 or f32 (f32 inputs need an f32 C); bias has A's dtype and
//   shape [N] (per_column) or [M] (per_row).
// Training's three products: Y = X W^T (trans_b, bias, relu), dX = dY W, dW = dY^T X (trans_a).
// per_channel: bias_grad only, db[c] = sum over batch and space of an NCHW gradient.
enum class BiasMode : uint8_t { per_column, per_row, per_channel };

// The cooperative-matrix kernel's workgroup: sg_rows x sg_cols subgroups, each owning tiles_m x
// tiles_n accumulator matrices of the device's matrix shape M x N x K, k_steps K slices per
// shared-memory stage, and 1 or 2 stages (2: the next K tile loads while this one multiplies).
// A workgroup computes (sg_rows * tiles_m * M) x (sg_cols * tiles_n * N) of C. The library picks
// one per device and size from its tuning table; `vkhalf-bench gemm --sweep` times every one the
// device can run, and GemmOptions::coopmat_tile forces one.
struct CoopmatTile {
    uint32_t sg_rows = 2, sg_cols = 2, tiles_m = 2, tiles_n = 2, k_steps = 2, stages = 2;
    bool operator==(const CoopmatTile&) const = default;
};
// "sg2x2.t2x2.k2.s2"
std::string to_string(const CoopmatTile& t);

struct GemmOptions {
    bool trans_a = false, trans_b = false;
    float alpha = 1.0f, beta = 0.0f;
    const Tensor* bias = nullptr;
    BiasMode bias_mode = BiasMode::per_column;
    bool relu = false;
    uint32_t split_k = 0;               // 0: chosen from the shape; 1: never; n: n slices of K
    std::optional<Variant> variant;     // f32, f16p, f16s, f16a or coopmat; default: the device's best
    // Default: the device's policy (DeviceCaps::gemm_f16 / gemm_f32). coopmat here and variant
    // coopmat ask for the same kernel; a kernel the device cannot run is an UnsupportedError.
    std::optional<GemmKernel> kernel;
    // The coopmat kernel's workgroup shape instead of the tuning table's; one that does not fit
    // the device (shared memory, invocations) is an UnsupportedError.
    std::optional<CoopmatTile> coopmat_tile;
};

void gemm(Context& ctx, const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& opt = {});

// Bias gradient of a [rows, cols] (or [batch, rows, cols]) gradient, fp32 accumulation:
// per_column: db[n] = sum over rows; per_row: db[m] = sum over columns; per_channel: dy is
// [batch, channels, h, w] and db[c] sums batch and space. db is f32 or dy's dtype.
void bias_grad(Context& ctx, const Tensor& dy, Tensor& db, BiasMode mode = BiasMode::per_column,
               OpOptions opt = {});

// What gemm() would run for these operands: kernel, variant and tile, e.g. "regblock.f16s 32x32".
std::string describe_gemm(Context& ctx, const Tensor& a, const Tensor& b, const Tensor& c,
                          const GemmOptions& opt = {});

// Mean squared error in fp32: loss (a 1-element f32 tensor) = mean((y - target)^2); with dy,
// also dy = scale * 2 * (y - target) / n (scale: the loss scale seeding the backward).
// Over the last axis, in fp32 (the row's maximum subtracted: finite for any finite input):
// softmax; causal_softmax, for attention scores [.., T, T]: column j of row i takes no part for
// j > i (probability 0); log_softmax (torch's log_softmax(x, -1)).
enum class SoftmaxKind : uint8_t { softmax, causal_softmax, log_softmax };
void softmax(Context& ctx, const Tensor& x, Tensor& y, SoftmaxKind kind = SoftmaxKind::softmax, OpOptions opt = {});
// dx from the forward's output y and dy: y (dy - sum(dy y)), or dy - exp(y) sum(dy) for log_softmax.
void softmax_backward(Context& ctx, const Tensor& y, const Tensor& dy, Tensor& dx,
                      SoftmaxKind kind = SoftmaxKind::softmax, OpOptions opt = {});

// Causal self-attention fused into one kernel (online softmax, fp32 accumulators, no T x T
// matrix in memory), over GPT-2's packed projection: qkv [n, T, 3C] holds q, k and v side by side,
// each split into `heads` heads of C / heads (even, at most 256) channels; y [n, T, C] holds the
// heads side by side, and lse (f32, n * heads * T elements) each row's log-sum-exp of the scaled
// scores, which the backward needs. The backward writes the whole dqkv (same shape as qkv).
void causal_attention(Context& ctx, const Tensor& qkv, int64_t heads, Tensor& y, Tensor& lse, OpOptions opt = {});
void causal_attention_backward(Context& ctx, const Tensor& dy, const Tensor& qkv, const Tensor& y, const Tensor& lse,
                               int64_t heads, Tensor& dqkv, OpOptions opt = {});

// y [indices..., D] = rows of table [V, D] (torch.nn.functional.embedding) at u32 indices; an
// index >= V gives a row of zeros. The backward sums dy's rows into dtable [V, D] per index, in
// fp32 and in token order (deterministic), overwriting dtable.
void embedding(Context& ctx, const Tensor& table, const Tensor& indices, Tensor& y, OpOptions opt = {});
void embedding_backward(Context& ctx, const Tensor& dy, const Tensor& indices, Tensor& dtable, OpOptions opt = {});

void mse_loss(Context& ctx, const Tensor& y, const Tensor& target, Tensor& loss, Tensor* dy = nullptr,
              float scale = 1.0f, OpOptions opt = {});

// The tier an op uses by default for a dtype on this device.
Variant default_variant(const DeviceCaps& caps, DType dtype);

} // namespace vkhalf
