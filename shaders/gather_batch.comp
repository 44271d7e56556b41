#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// x[r, d] = (images[idx, d] / 255 - mean) * inv_std,  y[r] = labels[idx],
// idx = order[first + (step % steps_per_epoch) * stride + r]
// The dataset (u8 pixels, four per uint) and this epoch's order live on the device; `step` comes
// from the training state, so the same recording gathers a new batch each replay. stride is the
// global batch: B for one process; a data-parallel rank reads its B-row shard at first = rank * B.
//
// Augmentation (training only; shift = flip = 0 leaves every image as it is): image row j of the
// global batch moves by (dy, dx) in [-shift, shift] and, with flip, is mirrored left-right with
// probability 1/2; pixels that come from outside the image read as 0 (black). The draws hash
// (seed, step, j), so every replay draws anew, a resumed run draws the same, and the split over
// ranks and micro-batches does not change them.
#define TRAIN_STATE_BINDING 4
#define TRAIN_STATE_READONLY
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
    uint rows, cols, shift, flip, seed;  // augmentation: image shape, max shift, mirror on/off, seed
} pc;

PAIR_STORE(X)

float pixel(uint example, uint d) {
    uint byte_index = example * pc.features + d;
    return float((images[byte_index >> 2] >> (8u * (byte_index & 3u))) & 0xffu);
}

// The pixel at feature d of the image at global batch row j, after its shift and mirror.
float augmented_pixel(uint example, uint j, uint d) {
    if (pc.shift == 0u && pc.flip == 0u) return pixel(example, d);
    uint draw = step_draw(pc.seed, j);
    uint span = 2u * pc.shift + 1u;
    int dy = int(draw % span) - int(pc.shift);
    int dx = int((draw / span) % span) - int(pc.shift);
    bool mirror = pc.flip != 0u && (draw >> 31) != 0u;
    int y = int(d / pc.cols), x = int(d % pc.cols);
    if (mirror) x = int(pc.cols) - 1 - x;
    int sy = y + dy, sx = x + dx;
    if (sy < 0 || sx < 0 || sy >= int(pc.rows) || sx >= int(pc.cols)) return 0.0;
    return pixel(example, uint(sy) * pc.cols + uint(sx));
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
        uint row = i / pc.features;
        uint example = order[first + row];
        v[e] = afp((augmented_pixel(example, pc.first + row, i % pc.features) / 255.0 - pc.mean) * pc.inv_std);
    }
    X_store2(p, n, v);
    if (p < pc.batch) Y[p] = labels[order[first + p]];
}
