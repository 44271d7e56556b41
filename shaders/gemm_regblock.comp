#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// C[m,n] = alpha * sum_k op(A)[m,k] * op(B)[k,n] + beta * C[m,n] (+ bias) (relu)
// fp32 accumulate. Register-blocked without shared memory: each invocation owns a TM x TN block
// of C (rows m0 + ty*TM + i, columns n0 + tx*TN + j) and reads op(A) and op(B) straight from
// memory. On CPU devices (lavapipe) this beats staging through shared memory, whose barriers cost
// more than they save (shared/LAVAPIPE.md measured 32-43 vs 5-9 GFLOP/s).
layout(constant_id = 1) const uint BM = 32;
layout(constant_id = 2) const uint BN = 32;
layout(constant_id = 3) const uint BK = 16;     // only the split-K granularity here
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

void main() {
    const uint WN = BN / TN;
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % WN, ty = tid / WN;
    uint mb = gl_WorkGroupID.y * BM + ty * TM, nb = gl_WorkGroupID.x * BN + tx * TN;
    uint b = gl_WorkGroupID.z / pc.splits, split = gl_WorkGroupID.z % pc.splits;
    uint k_begin = split * pc.k_chunk, k_end = min(pc.K, k_begin + pc.k_chunk);
    uint a_base = b * pc.stride_a, b_base = b * pc.stride_b;

    // Rows/columns past the edge are clamped for loading (always in bounds) and skipped at the end.
    uint rows[TM], cols[TN];
    for (uint i = 0; i < TM; ++i) rows[i] = min(mb + i, pc.M - 1u);
    for (uint j = 0; j < TN; ++j) cols[j] = min(nb + j, pc.N - 1u);

    float acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

    for (uint k = k_begin; k < k_end; ++k) {
        afp a[TM], bv[TN];
        for (uint i = 0; i < TM; ++i) a[i] = load_op_a(a_base, rows[i], k);
        for (uint j = 0; j < TN; ++j) bv[j] = load_op_b(b_base, k, cols[j]);
        for (uint i = 0; i < TM; ++i)
            for (uint j = 0; j < TN; ++j) MAC(acc[i][j], a[i], bv[j]);
    }

    for (uint i = 0; i < TM; ++i) {
        if (mb + i >= pc.M) continue;
        for (uint j = 0; j < TN; ++j)
            if (nb + j < pc.N) gemm_finish(b, split, mb + i, nb + j, acc[i][j]);
    }
}
