#pragma once
// Recording forms of the activations and dropout (vkhalf/activations.hpp): checks, pipeline
// choice, dispatches into a CommandList. The eager functions record into a fresh list and wait;
// a Program records into its own and replays it.
#include "kernels/ops_common.hpp"
#include "vkhalf/activations.hpp"

namespace vkhalf::detail {

// y = f(x): one dispatch of activation.comp.
void record_activation(CommandList& cl, ContextImpl& ctx, Activation f, const Tensor& x, Tensor& y,
                       const OpOptions& opt);
// dx = dy * f'(x): one dispatch of activation.comp.
void record_activation_backward(CommandList& cl, ContextImpl& ctx, Activation f, const Tensor& dy, const Tensor& x,
                                Tensor& dx, const OpOptions& opt);

// y = x * mask / (1 - p), the mask from rng_state ({seed, offset}, u32 [2], read on the device when
// the list runs). With RngAdvance::advance a second dispatch then adds x.numel() to the offset
// (record_rng_advance).
void record_dropout(CommandList& cl, ContextImpl& ctx, const Tensor& x, Tensor& y, float p, Tensor& rng_state,
                    RngAdvance advance, const OpOptions& opt);
// dx = dy * mask / (1 - p): the same kernel, the same mask for the same rng_state.
void record_dropout_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, Tensor& dx, float p,
                             Tensor& rng_state, RngAdvance advance, const OpOptions& opt);
// rng_state.offset += count (mod 2^32): one invocation, ordered after every earlier dispatch that
// reads rng_state by the list's barriers. Nothing is recorded for count 0.
void record_rng_advance(CommandList& cl, ContextImpl& ctx, Tensor& rng_state, uint32_t count);

} // namespace vkhalf::detail
