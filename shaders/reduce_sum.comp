#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// partial[g] = sum of x (SQUARE: of x^2) over workgroup g's grid-strided share (fp32 accumulate
// in every tier). The host runs it twice: over x with G groups, then (f32 tier, plain sum) over
// the G partials with one group. SQUARE gives the squared L2 norm (gradient clipping).
layout(constant_id = 0) const uint WG = 256;     // same id as local_size_x: power of two
layout(constant_id = 1) const bool SQUARE = false;

layout(binding = 0) readonly buffer X_ { sfp X[]; };
layout(binding = 1) writeonly buffer P_ { float partial[]; };
layout(push_constant) uniform Push { uint n; uint groups; } pc;   // groups = partials written

PAIR_LOAD(X)
shared float lane_sums[WG];

void main() {
    // A 2-D grid may hold more workgroups than partials: the surplus ones leave at once (uniformly,
    // before any barrier).
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (group >= pc.groups) return;
    uint lid = gl_LocalInvocationID.x;
    uint pairs = (pc.n + 1u) / 2u;
    float acc = 0.0;
    for (uint p = group * WG + lid; p < pairs; p += pc.groups * WG) {
        vec2 v = vec2(X_load2(p, pc.n));
        if (SQUARE) v *= v;
        acc += v.x;
        acc += v.y;
    }
    lane_sums[lid] = acc;
    barrier();
    for (uint stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) lane_sums[lid] += lane_sums[lid + stride];
        barrier();
    }
    if (lid == 0u) partial[group] = lane_sums[0];
}
