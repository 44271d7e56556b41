#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// x[r, d] = (images[idx, d] / 255 - mean) * inv_std,  y[r] = labels[idx],
// idx = order[first + (step % steps_per_epoch) * stride + r]
// The dataset (u8 pixels, four per uint) and this epoch's order live on the device; `step` comes
// from the training state, so the same recording gathers a new batch each replay. stride is the
// global batch: B for one process; a data-parallel rank reads its B-row shard at first = rank * B.
#define TRAIN_STATE_BINDING 4
#include "train_state.glsl"

layout(binding = 0) readonly buffer Images_ { uint images[]; };
layout(binding = 1) readonly buffer Labels_ { uint labels[]; };
layout(binding = 2) readonly buffer Order_ { uint order[]; };
layout(binding = 3) buffer X_ { sfp X[]; };
layout(binding = 5) writeonly buffer Y_ { uint Y[]; };
layout(push_constant) uniform Push {
    uint batch, features, steps_per_epoch, first;
    float mean, inv_std;
    uint stride;
} pc;

PAIR_STORE(X)

float pixel(uint example, uint d) {
    uint byte_index = example * pc.features + d;
    return float((images[byte_index >> 2] >> (8u * (byte_index & 3u))) & 0xffu);
}

void main() {
    uint p = linear_invocation();
    uint n = pc.batch * pc.features;
    if (2u * p >= n) return;
    uint first = pc.first + (st.step % pc.steps_per_epoch) * pc.stride;
    afp2 v = afp2(0);
    for (uint e = 0; e < 2u; ++e) {
        uint i = 2u * p + e;
        if (i >= n) break;
        uint example = order[first + i / pc.features];
        v[e] = afp((pixel(example, i % pc.features) / 255.0 - pc.mean) * pc.inv_std);
    }
    X_store2(p, n, v);
    if (p < pc.batch) Y[p] = labels[order[first + p]];
}
