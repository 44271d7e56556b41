#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// AXIS 0: db[n] = sum_m dY[m,n]  (bias over columns, e.g. Linear)   AXIS 1: db[m] = sum_n dY[m,n]
// AXIS 2: db[c] = sum_{b,s} dY[b,c,s]  (per channel of an NCHW tensor: rows = batch, cols = channels)
// fp32 accumulate over the whole reduced dimension, batches included (dY is [batch*M, N]);
// db in the storage type (or fp32 with OUT_F32). One invocation per output element; for AXIS 0
// neighbouring invocations read neighbouring columns. ACCUMULATE: db += the sum, rounded once (the
// compiler's fold of a gradient sum: a bias used twice, micro-batches).
layout(constant_id = 1) const uint AXIS = 0;
layout(constant_id = 2) const bool OUT_F32 = false;
layout(constant_id = 3) const bool ACCUMULATE = false;

layout(binding = 0) readonly buffer DY_ { sfp DY[]; };
layout(binding = 1) buffer DB_ { sfp DB[]; };
layout(binding = 2) buffer DB32_ { float DB32[]; };
layout(push_constant) uniform Push { uint rows, cols, spatial; } pc;

SCALAR_LOAD(DY)

void main() {
    uint o = linear_invocation();
    uint outputs = AXIS == 1u ? pc.rows : pc.cols;
    if (o >= outputs) return;
    float acc = 0.0;
    if (AXIS == 0u)
        for (uint m = 0; m < pc.rows; ++m) acc += float(DY_load(m * pc.cols + o));
    else if (AXIS == 1u)
        for (uint n = 0; n < pc.cols; ++n) acc += float(DY_load(o * pc.cols + n));
    else
        for (uint b = 0; b < pc.rows; ++b)
            for (uint s = 0; s < pc.spatial; ++s) acc += float(DY_load((b * pc.cols + o) * pc.spatial + s));
    if (OUT_F32) {
        DB32[o] = ACCUMULATE ? DB32[o] + acc : acc;
        return;
    }
#ifdef VKH_PACKED
    // Only this invocation writes this half of the word; its neighbour's atomics leave it be.
    if (ACCUMULATE) acc += unpackHalf2x16(DB[o >> 1])[o & 1u];
    uint shift = (o & 1u) * 16u;
    atomicAnd(DB[o >> 1], ~(0xffffu << shift));
    atomicOr(DB[o >> 1], (packHalf2x16(vec2(acc, 0.0)) & 0xffffu) << shift);
#else
    if (ACCUMULATE) acc += float(DB[o]);
    DB[o] = sfp(acc);
#endif
}
