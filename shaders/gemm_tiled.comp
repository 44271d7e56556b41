#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// C[m,n] = alpha * sum_k op(A)[m,k] * op(B)[k,n] + beta * C[m,n] (+ bias) (relu)
// fp32 accumulate; A, B, C in the storage type of this variant (C32 when OUT_F32).
// Workgroup tile BM x BN staged through shared memory in BK-deep slices; each invocation owns a
// TM x TN register micro-tile with rows ty + i*(BM/TM) and columns tx + j*(BN/TN).
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const bool TRANS_A = false;
layout(constant_id = 7) const bool TRANS_B = false;
layout(constant_id = 8) const bool OUT_F32 = false;
layout(constant_id = 9) const uint BIAS = 0;
layout(constant_id = 10) const bool RELU = false;
layout(constant_id = 11) const bool PARTIAL = false;

layout(binding = 0) readonly buffer A_ { sfp A[]; };
layout(binding = 1) readonly buffer B_ { sfp B[]; };
layout(binding = 2) buffer C_ { sfp C[]; };
layout(binding = 3) buffer C32_ { float C32[]; };
layout(binding = 4) readonly buffer Bias_ { sfp BIAS_BUF[]; };

#include "gemm_common.glsl"

shared afp As[BK * BM];   // As[k * BM + m]
shared afp Bs[BK * BN];   // Bs[k * BN + n]

void main() {
    const uint WM = BM / TM, WN = BN / TN, THREADS = WM * WN;
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % WN, ty = tid / WN;
    uint m0 = gl_WorkGroupID.y * BM, n0 = tile_x() * BN;
    uint b = gl_WorkGroupID.z / pc.splits, split = gl_WorkGroupID.z % pc.splits;
    uint k_begin = split * pc.k_chunk, k_end = min(pc.K, k_begin + pc.k_chunk);
    uint a_base = b * pc.stride_a, b_base = b * pc.stride_b;

    float acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

    for (uint k0 = k_begin; k0 < k_end; k0 += BK) {
        // Stage the slices; consecutive invocations read consecutive addresses of A and B.
        for (uint e = tid; e < BM * BK; e += THREADS) {
            uint r = TRANS_A ? e % BM : e / BK, c = TRANS_A ? e / BM : e % BK;
            uint m = m0 + r, k = k0 + c;
            As[c * BM + r] = (m < pc.M && k < k_end) ? load_op_a(a_base, m, k) : afp(0);
        }
        for (uint e = tid; e < BN * BK; e += THREADS) {
            uint r = TRANS_B ? e / BK : e % BN, c = TRANS_B ? e % BK : e / BN;
            uint n = n0 + r, k = k0 + c;
            Bs[c * BN + r] = (n < pc.N && k < k_end) ? load_op_b(b_base, k, n) : afp(0);
        }
        barrier();
        for (uint kk = 0; kk < BK; ++kk) {
            afp a[TM], bv[TN];
            for (uint i = 0; i < TM; ++i) a[i] = As[kk * BM + ty + i * WM];
            for (uint j = 0; j < TN; ++j) bv[j] = Bs[kk * BN + tx + j * WN];
            for (uint i = 0; i < TM; ++i)
                for (uint j = 0; j < TN; ++j) MAC(acc[i][j], a[i], bv[j]);
        }
        barrier();
    }

    for (uint i = 0; i < TM; ++i) {
        uint m = m0 + ty + i * WM;
        if (m >= pc.M) continue;
        for (uint j = 0; j < TN; ++j) {
            uint n = n0 + tx + j * WN;
            if (n < pc.N) gemm_finish(b, split, m, n, acc[i][j]);
        }
    }
}
