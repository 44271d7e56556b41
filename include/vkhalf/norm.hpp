#pragma once
// BatchNorm2d over NCHW, statistics in fp32 (torch.nn.BatchNorm2d semantics and defaults).
#include "vkhalf/ops.hpp"

namespace vkhalf {

struct BatchNormParams {
    float eps = 1e-5f;
    float momentum = 0.1f;  // running = (1 - momentum) * running + momentum * batch statistic
};

// The per-channel statistics a BatchNorm2d keeps: an f32 tensor of four aligned segments
// (saved mean, saved 1/std of the last training batch, running mean, running variance), running
// mean 0 and running variance 1 to start.
struct BatchNormStats {
    Tensor data;
    int64_t channels = 0, stride = 0;
    static BatchNormStats create(Context& ctx, int64_t channels);
    Tensor running_mean() const { return data.view(2 * stride, {channels}); }
    Tensor running_var() const { return data.view(3 * stride, {channels}); }
};

// training: normalise with the batch's statistics (and update the running ones); otherwise with
// the running statistics. gamma and beta are [channels] in x's dtype.
void batch_norm2d(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, BatchNormStats& stats,
                  Tensor& y, bool training, BatchNormParams p = {}, OpOptions opt = {});
// The backward of the last training forward: dx, dgamma and dbeta (written, in x's dtype).
void batch_norm2d_backward(Context& ctx, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                           const BatchNormStats& stats, Tensor& dx, Tensor& dgamma, Tensor& dbeta,
                           BatchNormParams p = {}, OpOptions opt = {});

// LayerNorm over the last dimension d of x (torch.nn.LayerNorm(d)): gamma and beta are [d];
// stats (f32, 2 per row: mean and 1/std) receives what the backward needs.
void layer_norm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& stats,
                float eps = 1e-5f, OpOptions opt = {});
void layer_norm_backward(Context& ctx, const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& stats,
                         Tensor& dx, Tensor& dgamma, Tensor& dbeta, OpOptions opt = {});

} // namespace vkhalf
