#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// st.found_inf = 1 if any gradient element is +inf, -inf or NaN.
// The gradients are read as raw bits (every tier stores fp16 the same way), so no driver's
// fast-math can fold the test away: fp16 is non-finite when its exponent bits are all ones,
// fp32 likewise.
#define TRAIN_STATE_BINDING 1
#include "train_state.glsl"

layout(constant_id = 1) const bool GRAD_F32 = false;
layout(binding = 0) readonly buffer G_ { uint words[]; };
layout(push_constant) uniform Push { uint words_count; } pc;

void main() {
    uint i = linear_invocation();
    if (i >= pc.words_count) return;
    uint w = words[i];
    bool bad = GRAD_F32 ? (w & 0x7f800000u) == 0x7f800000u
                        : ((w & 0x7c00u) == 0x7c00u) || ((w & 0x7c000000u) == 0x7c000000u);
    if (bad) atomicOr(st.found_inf, 1u);
}
