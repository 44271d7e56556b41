#pragma once
// Recorders for the training kernels: gather_batch, softmax_xent, check_finite, optimizer_step,
// scale_update. `state` is the u32 tensor holding a TrainState.
#include "kernels/ops_common.hpp"
#include "kernels/train_state.hpp"
#include "vkhalf/train.hpp"

namespace vkhalf::detail {

struct GatherParams {
    uint32_t batch, features, steps_per_epoch, first;
    float mean, inv_std;
    uint32_t stride = 0;  // examples between two steps' batches; 0: batch (a data-parallel rank: the global batch)
    // Augmentation (gather_batch.comp): rows x cols images, each moved by up to shift pixels and,
    // with flip = 1, mirrored with probability 1/2; draws from (seed, step, row). 0: none.
    uint32_t rows = 0, cols = 0, shift = 0, flip = 0, seed = 0;
};
void record_gather(CommandList& cl, ContextImpl& ctx, const DeviceDataset& data, const Tensor& order, Tensor& state,
                   const GatherParams& p, Tensor& x, Tensor& labels);
// Token windows (gather_windows.comp): x [batch, block] and targets y (shifted by one) from a u32
// token stream, at window starts drawn from (seed, step, first + row).
struct WindowParams {
    uint32_t batch, block, first, seed;
};
void record_gather_windows(CommandList& cl, ContextImpl& ctx, const Tensor& tokens, Tensor& state,
                           const WindowParams& p, Tensor& x, Tensor& y);
// with_grad false: metrics only (evaluation); dz is still bound but not written. The gradient is
// the mean over mean_over rows (0: the batch; a data-parallel rank: the global batch, so the sum
// over the ranks is the global mean).
// ignore_index: rows with this label have no loss, no gradient and do not count (the mean is over
// the others; mean_over must then be 0); kNoIgnoreIndex: none.
constexpr uint32_t kNoIgnoreIndex = 0xffffffffu;
void record_softmax_xent(CommandList& cl, ContextImpl& ctx, const Tensor& logits, const Tensor& labels, Tensor& state,
                         Tensor& dz, bool with_grad, float label_smoothing = 0.0f, uint32_t mean_over = 0,
                         uint32_t ignore_index = kNoIgnoreIndex);
void record_check_finite(CommandList& cl, ContextImpl& ctx, const Tensor& grads, Tensor& state);
// With o.clip_norm > 0 it clips by the squared norm in norm_sq (one f32; every group of a step
// shares it), or records that of `grads` first when norm_sq is null.
void record_optimizer_step(CommandList& cl, Context& ctx, const OptimizerOptions& o, const Tensor& grads,
                           Tensor& master, Tensor& moment1, Tensor& moment2, Tensor& work, Tensor& state,
                           const Tensor* norm_sq = nullptr);
void record_scale_update(CommandList& cl, ContextImpl& ctx, const LossScaleOptions& o, Tensor& state);

// The initial TrainState for these options.
TrainState initial_state(const LossScaleOptions& o);
// A state tensor holding s, and the state a tensor holds (each a host round trip).
Tensor state_tensor(Context& ctx, const TrainState& s);
TrainState read_state(const Tensor& t);

} // namespace vkhalf::detail
