#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// loss[0] = sum_i (y_i - t_i)^2 / n          (fp32: the mean squared error)
// dy_i    = scale * 2 * (y_i - t_i) / n      (WITH_GRAD; seeded with the loss scale)
// One workgroup: a grid-strided fp32 sum reduced in shared memory (a loss is small).
layout(constant_id = 1) const bool WITH_GRAD = true;

layout(binding = 0) readonly buffer Y_ { sfp Y[]; };
layout(binding = 1) readonly buffer T_ { sfp T[]; };
layout(binding = 2) buffer DY_ { sfp DY[]; };
layout(binding = 3) writeonly buffer Loss_ { float loss[]; };
layout(push_constant) uniform Push { uint n; float scale; } pc;

PAIR_LOAD(Y)
PAIR_LOAD(T)
PAIR_STORE(DY)
shared float partial[gl_WorkGroupSize.x];

void main() {
    uint lid = gl_LocalInvocationID.x;
    float acc = 0.0, inv_n = 1.0 / float(pc.n);
    for (uint p = lid; 2u * p < pc.n; p += gl_WorkGroupSize.x) {
        vec2 d = vec2(Y_load2(p, pc.n)) - vec2(T_load2(p, pc.n));   // padding reads 0 - 0
        acc += d.x * d.x + d.y * d.y;
        if (WITH_GRAD) DY_store2(p, pc.n, afp2(pc.scale * 2.0 * inv_n * d));
    }
    partial[lid] = acc;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) partial[lid] += partial[lid + stride];
        barrier();
    }
    if (lid == 0u) loss[0] = partial[0] * inv_n;
}
