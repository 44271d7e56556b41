#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Dropout with a counter-based RNG: the mask is a pure function of (seed, offset, element index),
// so the backward pass regenerates the forward's mask instead of storing it.
//
// rng_state = {seed, offset} is a u32 buffer on the device, read by every invocation, so a
// recorded command list replayed each training step draws a fresh mask once the state moves on.
// The state cannot move inside the dispatch that reads it (workgroups run in any order), so the
// advance is a second, one-invocation dispatch of this shader (ADVANCE = true) recorded after the
// last dispatch that must see the old offset; the command list puts a barrier between them.
//
// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011): ten rounds over a 4 x 32-bit counter with a 2 x 32-bit key,
//   round:  (hi0, lo0) = 0xD2511F53 * c0,  (hi1, lo1) = 0xCD9E8D57 * c2   (32 x 32 -> 64 bits)
//           c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
//   key schedule between rounds: k0 += 0x9E3779B9, k1 += 0xBB67AE85 (Weyl sequence).
// Element i uses counter (offset + i mod 2^32, 0, 0, 0) and key (seed, 0), and only word 0 of the
// output, w: the uniform u = w / 2^32 in [0, 1) keeps the element when u >= p, i.e. when
// w >= threshold = ceil(p * 2^32), an exact integer test the host computes once.
layout(constant_id = 1) const bool ADVANCE = false;

layout(binding = 0) readonly buffer X_ { sfp X[]; };                // x (forward) or dy (backward)
layout(binding = 1) buffer State_ { uint seed; uint offset; } st;   // rng_state
layout(binding = 2) writeonly buffer Y_ { sfp Y[]; };               // y (forward) or dx (backward)
layout(push_constant) uniform Push {
    uint n;           // elements (ADVANCE: the amount added to the offset)
    uint threshold;   // ceil(p * 2^32) for p < 1
    uint drop_all;    // p == 1: every element is dropped
    float scale;      // fp32(1 / (1 - p))
} pc;

PAIR_LOAD(X)
PAIR_STORE(Y)

const uint PHILOX_M0 = 0xD2511F53u;
const uint PHILOX_M1 = 0xCD9E8D57u;
const uint PHILOX_W0 = 0x9E3779B9u;
const uint PHILOX_W1 = 0xBB67AE85u;

uvec4 philox4x32_10(uvec4 c, uvec2 k) {
    for (int r = 0; r < 10; ++r) {
        if (r > 0) k += uvec2(PHILOX_W0, PHILOX_W1);
        uint hi0, lo0, hi1, lo1;
        umulExtended(PHILOX_M0, c.x, hi0, lo0);
        umulExtended(PHILOX_M1, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

bool keep(uint i, uint seed, uint offset) {
    if (pc.drop_all != 0u) return false;
    return philox4x32_10(uvec4(offset + i, 0u, 0u, 0u), uvec2(seed, 0u)).x >= pc.threshold;
}

// APPLY: y[i] = keep(i) ? x[i] * scale : 0  (fp32 multiply in every tier, one rounding to storage)
// ADVANCE: offset += n  (mod 2^32)
void main() {
    uint p = linear_invocation();
    if (ADVANCE) {
        if (p == 0u) st.offset += pc.n;
        return;
    }
    if (2u * p >= pc.n) return;
    uint seed = st.seed, offset = st.offset;
    vec2 x = vec2(X_load2(p, pc.n));
    uint i = 2u * p;
    vec2 y = vec2(keep(i, seed, offset) ? x.x * pc.scale : 0.0,
                  keep(i + 1u, seed, offset) ? x.y * pc.scale : 0.0);
    Y_store2(p, pc.n, afp2(y));
}
