#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// y[o] = x[offset + sum_k (o_k - lo_k) * stride_k]  where 0 <= o_k - lo_k < in_ext_k for every k,
//        0 elsewhere,
// o = (o_0, ..., o_{rank-1}) the row-major coordinates of output element o in ext. One kernel for
// every layout op: permute and transpose (permuted strides), slice (an offset), pad (lo, the
// gradient of a slice), expand (stride 0, broadcasting). A copy: exact in every tier.
// Each invocation writes one output pair, so the packed tier never needs a read-modify-write.
layout(binding = 0) readonly buffer X_ { sfp X[]; };
layout(binding = 1) writeonly buffer Y_ { sfp Y[]; };
layout(push_constant) uniform Push {
    uint n, rank, offset, unused;
    uint ext[6];     // output extents
    uint stride[6];  // input element strides per output dimension (0: broadcast)
    int lo[6];       // output coordinate of input coordinate 0
    uint in_ext[6];  // input extents per output dimension
} pc;

SCALAR_LOAD(X)
PAIR_STORE(Y)

afp gather_one(uint o) {
    uint rem = o;
    uint src = pc.offset;
    for (int k = int(pc.rank) - 1; k >= 0; --k) {
        uint c = rem % pc.ext[k];
        rem /= pc.ext[k];
        int i = int(c) - pc.lo[k];
        if (i < 0 || i >= int(pc.in_ext[k])) return afp(0);
        src += uint(i) * pc.stride[k];
    }
    return X_load(src);
}

void main() {
    uint p = linear_invocation();
    if (2u * p >= pc.n) return;
    afp2 v = afp2(gather_one(2u * p), afp(0));
    if (2u * p + 1u < pc.n) v.y = gather_one(2u * p + 1u);
    Y_store2(p, pc.n, v);
}
