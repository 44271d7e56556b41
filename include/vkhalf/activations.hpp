#pragma once
// Activations (GELU, tanh, sigmoid) and dropout, forward and backward. Eager: each call records,
// submits and waits (a Program records the same kernels into its own list). The math is fp32
// in every tier, f16a included, and each result is rounded once to the storage type.
#include <cstdint>

#include "vkhalf/ops.hpp"

namespace vkhalf {

// ---- activations --------------------------------------------------------------------------
// x, y, dy and dx share one shape and one dtype (f32 or f16). Results are finite for every finite
// x (fp16's +-65504 included): f and f' saturate to their limits instead of overflowing.
enum class Activation : uint8_t {
    gelu,     // x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact (erf) form, not the tanh one
    tanh,     // tanh(x)
    sigmoid,  // 1 / (1 + exp(-x))
    gelu_tanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): GPT-2's, torch's approximate='tanh'
};

// y = f(x)
void activation_forward(Context& ctx, Activation f, const Tensor& x, Tensor& y, OpOptions opt = {});
// dx = dy * f'(x), x being the forward's input
void activation_backward(Context& ctx, Activation f, const Tensor& dy, const Tensor& x, Tensor& dx,
                         OpOptions opt = {});

void gelu(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt = {});
// dx = dy * (Phi(x) + x * phi(x))
void gelu_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt = {});
// Not "tanh": an unqualified tanh(float) inside namespace vkhalf would find this one.
void tanh_forward(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt = {});
// dx = dy * (1 - tanh(x)^2)
void tanh_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt = {});
void sigmoid(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt = {});
// dx = dy * sigmoid(x) * (1 - sigmoid(x))
void sigmoid_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt = {});

// ---- dropout ------------------------------------------------------------------------------
// y = x * mask / (1 - p), the mask drawn on the device by Philox4x32-10 from rng_state, a u32
// tensor of shape [2] = {seed, offset} in device memory:
//   mask[i] = (u_i >= p),  u_i = philox4x32_10(counter = {offset + i mod 2^32, 0, 0, 0},
//                                              key = {seed, 0})[0] / 2^32
// The kept elements are x * fp32(1/(1-p)) rounded once; dropped ones are exactly 0. p in [0, 1]:
// p = 0 is the identity, p = 1 zeroes everything.
//
// The backward regenerates the same mask from the same state, so no mask is stored. Because the
// state lives on the device, a recorded command list (a Program) replayed every step draws a new mask
// each step, provided something moves the offset: `advance` adds x's element count to it after the
// kernel (a second, one-invocation dispatch; earlier dispatches in the list still see the old
// offset). The defaults fit a training step: the forward keeps the state so its backward sees the
// same mask, the backward advances it for the next step. A forward with no backward (or a repeated
// forward) passes RngAdvance::advance itself. Masks repeat once a state has advanced by 2^32
// elements in all.
//
// Give each dropout layer its own state (distinct seeds, or views of one u32 tensor): two layers
// reading the same {seed, offset} draw the same mask.
enum class RngAdvance : uint8_t {
    keep,     // leave rng_state as it is
    advance,  // offset += numel after the kernel
};

// A fresh [2] u32 state {seed, offset}.
Tensor make_rng_state(Context& ctx, uint32_t seed, uint32_t offset = 0);

void dropout(Context& ctx, const Tensor& x, Tensor& y, float p, Tensor& rng_state,
             RngAdvance advance = RngAdvance::keep, OpOptions opt = {});
// dx = dy * mask / (1 - p) with the mask dropout() drew from the same rng_state.
void dropout_backward(Context& ctx, const Tensor& dy, Tensor& dx, float p, Tensor& rng_state,
                      RngAdvance advance = RngAdvance::advance, OpOptions opt = {});
// offset += count on the device (mod 2^32).
void advance_rng_state(Context& ctx, Tensor& rng_state, uint32_t count);

} // namespace vkhalf
