#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Random windows of a token stream, for language models (nanoGPT's get_batch, on the device):
//   x[r, t] = tokens[s_r + t],  y[r, t] = tokens[s_r + t + 1]      (targets: the next token)
//   s_r = mix32(seed ^ mix32(step ^ mix32(first + r))) mod (count - block)
// for rows r of a [batch, block] window set; `step` comes from the training state, so the same
// recording draws new windows every replay, a resumed run draws the same, and rows of the global
// batch draw the same whatever the split over micro-batches or ranks. The stream is uploaded
// once. Tokens are u32: this kernel copies words, the same in every tier.
#define TRAIN_STATE_BINDING 3
#define TRAIN_STATE_READONLY
#include "train_state.glsl"

layout(binding = 0) readonly buffer Tokens_ { uint tokens[]; };
layout(binding = 1) writeonly buffer X_ { uint X[]; };
layout(binding = 2) writeonly buffer Y_ { uint Y[]; };
layout(push_constant) uniform Push { uint batch, block, count, first, seed; } pc;

void main() {
    uint i = linear_invocation();
    if (i >= pc.batch * pc.block) return;
    uint r = i / pc.block, t = i % pc.block;
    uint start = step_draw(pc.seed, pc.first + r) % (pc.count - pc.block);
    X[i] = tokens[start + t];
    Y[i] = tokens[start + t + 1u];
}
