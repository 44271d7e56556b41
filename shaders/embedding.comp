#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Embedding lookup and its gradient, over token indices idx [T] (u32) and a table [V, D]:
//   MODE 0 forward:  y[t, d] = table[idx[t], d]            (0 for an index >= V: see below)
//   MODE 1 backward: dtable[v, d] = sum over t with idx[t] == v of dy[t, d], in fp32, t ascending
// The backward gathers instead of scattering: each output element walks every token in order, so
// the sum is the same on every run and every device (no atomics, no fp32 order left to the
// hardware). Its cost is V x D x T reads of idx, right for character vocabularies; a large
// vocabulary wants a sort of the tokens first. An index past the table reads as zeros (the host
// cannot see device-side indices; the tokens vkhalf gathers are always in range).
// Each invocation writes one output pair, so the packed tier never needs a read-modify-write.
layout(constant_id = 1) const uint MODE = 0;

layout(binding = 0) readonly buffer Idx_ { uint idx[]; };
layout(binding = 1) readonly buffer Src_ { sfp SRC[]; };   // the table (forward) or dy (backward)
layout(binding = 2) writeonly buffer Dst_ { sfp DST[]; };  // y (forward) or dtable (backward)
layout(push_constant) uniform Push { uint tokens, dim, vocab, n; } pc;

SCALAR_LOAD(SRC)
PAIR_STORE(DST)

afp element(uint o) {
    uint row = o / pc.dim, d = o % pc.dim;
    if (MODE == 0u) {
        uint v = idx[row];
        return v < pc.vocab ? SRC_load(v * pc.dim + d) : afp(0);
    }
    float acc = 0.0;
    for (uint t = 0u; t < pc.tokens; ++t)
        if (idx[t] == row) acc += float(SRC_load(t * pc.dim + d));
    return afp(acc);
}

void main() {
    uint p = linear_invocation();
    if (2u * p >= pc.n) return;
    afp2 v = afp2(element(2u * p), 2u * p + 1u < pc.n ? element(2u * p + 1u) : afp(0));
    DST_store2(p, pc.n, v);
}
