#pragma once
// The recording form of every op: checks, chooses a pipeline, records into a CommandList. The
// eager functions (vkhalf/ops.hpp) record into a fresh list and wait; a Program records into its own.
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/ops_common.hpp"
#include "vkhalf/conv.hpp"
#include "vkhalf/norm.hpp"

namespace vkhalf::detail {

enum class ElementwiseOp : uint32_t { add = 0, mul = 1, scale = 2, relu = 3, relu_backward = 4, div = 5 };

// y = op(a, b); unary ops pass a as b.
void record_elementwise(CommandList& cl, ContextImpl& ctx, ElementwiseOp op, const Tensor& a, const Tensor& b,
                        float alpha, Tensor& y, const OpOptions& opt);
void record_cast(CommandList& cl, ContextImpl& ctx, const Tensor& src, Tensor& dst);
// The first pass's partial sums live as long as the list. squares: sum of x^2 (squared L2 norm).
void record_sum(CommandList& cl, Context& ctx, const Tensor& x, Tensor& out, const OpOptions& opt,
                bool squares = false);
// accumulate: db += the sum (a gradient of a value used twice, summed where it is made).
void record_bias_grad(CommandList& cl, ContextImpl& ctx, const Tensor& dy, Tensor& db, BiasMode mode,
                      const OpOptions& opt, bool accumulate = false);

// y[o] = x[offset + sum_k (o_k - lo_k) stride_k] where every 0 <= o_k - lo_k < in_ext_k, else 0,
// over y's row-major coordinates o (at most kMaxGatherRank dimensions): permute, slice, pad and
// expand (stride 0) are maps of this one copy.
inline constexpr std::size_t kMaxGatherRank = 6;
struct GatherMap {
    int64_t offset = 0;
    std::vector<int64_t> stride, lo, in_ext;  // one per dimension of y
};
void record_strided_gather(CommandList& cl, ContextImpl& ctx, const Tensor& x, Tensor& y, const GatherMap& m,
                           const OpOptions& opt);

// Softmax or log-softmax over the last axis (SoftmaxKind, vkhalf/ops.hpp), fp32 inside;
// backward: dx from the forward's output y and dy.
void record_softmax(CommandList& cl, ContextImpl& ctx, SoftmaxKind kind, bool backward, const Tensor& x_or_y,
                    const Tensor* dy, Tensor& out, const OpOptions& opt);

// Fused causal self-attention (shaders/attention.comp): qkv [n, T, 3C] -> y [n, T, C] and the
// per-row log-sum-exp lse (f32, n * heads * T); the backward writes all of dqkv, with delta (f32,
// like lse) as its scratch.
void record_causal_attention(CommandList& cl, ContextImpl& ctx, const Tensor& qkv, int64_t heads, Tensor& y,
                             Tensor& lse, const OpOptions& opt);
void record_causal_attention_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& qkv,
                                      const Tensor& y, const Tensor& lse, int64_t heads, Tensor& dqkv, Tensor& delta,
                                      const OpOptions& opt);

// y [indices..., D] = rows of table [V, D] at u32 indices; the gradient sums dy's rows into
// dtable per index in fp32, deterministically (shaders/embedding.comp).
void record_embedding(CommandList& cl, ContextImpl& ctx, const Tensor& table, const Tensor& indices, Tensor& y,
                      const OpOptions& opt);
void record_embedding_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& indices,
                               Tensor& dtable, const OpOptions& opt);

// mean((y - target)^2) into loss (f32 [1]); with dy, dy = scale * 2 (y - target) / numel.
// With a training state (a Trainer's loss, like softmax_xent): the gradient is seeded with the
// state's loss scale on the device and averaged over mean_over rows of y's last axis (0: y's rows;
// data parallel or micro-batches: the global batch), and the state's metrics grow by the rows'
// losses (each the mean over its outputs), the rows, and the rows whose largest output is where
// the target's largest is.
void record_mse_loss(CommandList& cl, Context& ctx, const Tensor& y, const Tensor& target, Tensor& loss, Tensor* dy,
                     float scale, const OpOptions& opt, Tensor* state = nullptr, uint32_t mean_over = 0);

void record_batch_norm2d(CommandList& cl, ContextImpl& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         BatchNormStats& stats, Tensor& y, bool training, const BatchNormParams& p, const OpOptions& opt);
// Which parameter gradients a normalisation backward adds to what their buffers hold (the
// compiler's fold of a gradient sum) instead of overwriting.
struct ParamGradAccumulate {
    bool dgamma = false, dbeta = false;
};
void record_batch_norm2d_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& x,
                                  const Tensor& gamma, const BatchNormStats& stats, Tensor& dx, Tensor& dgamma,
                                  Tensor& dbeta, const BatchNormParams& p, const OpOptions& opt,
                                  ParamGradAccumulate acc = {});

void record_layer_norm(CommandList& cl, ContextImpl& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       Tensor& y, Tensor& stats, float eps, const OpOptions& opt);
void record_layer_norm_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& x,
                                const Tensor& gamma, const Tensor& stats, Tensor& dx, Tensor& dgamma, Tensor& dbeta,
                                const OpOptions& opt, ParamGradAccumulate acc = {});

void record_conv2d(CommandList& cl, Context& ctx, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                   const Conv2dParams& p, bool relu, const OpOptions& opt);
void record_conv2d_backward_data(CommandList& cl, Context& ctx, const Tensor& dy, const Tensor& w, Tensor& dx,
                                 const Conv2dParams& p, const OpOptions& opt);
// accumulate: dw += the gradient (GEMM beta 1, or the split-K sum adding dw).
void record_conv2d_backward_weight(CommandList& cl, Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dw,
                                   const Conv2dParams& p, const OpOptions& opt, bool accumulate = false);
void record_max_pool2d(CommandList& cl, ContextImpl& ctx, const Tensor& x, Tensor& y, Tensor& argmax,
                       const Pool2dParams& p, const OpOptions& opt);
void record_max_pool2d_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& argmax, Tensor& dx,
                                const Pool2dParams& p, const OpOptions& opt);
void record_avg_pool2d(CommandList& cl, ContextImpl& ctx, const Tensor& x, Tensor& y, const Pool2dParams& p,
                       const OpOptions& opt);
void record_avg_pool2d_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, Tensor& dx, const Pool2dParams& p,
                                const OpOptions& opt);

} // namespace vkhalf::detail
