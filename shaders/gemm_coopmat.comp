#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"

// C[m,n] = alpha * sum_k op(A)[m,k] * op(B)[k,n] + beta * C[m,n] (+ bias) (relu)
// fp16 x fp16 -> fp32 on VK_KHR_cooperative_matrix, subgroup scope. The matrix shape
// CM_M x CM_N x CM_K is one the device lists (specialization constants, chosen by the host).
// A workgroup of SG_ROWS x SG_COLS subgroups computes a BM x BN tile; each subgroup owns
// TILES_M x TILES_N accumulator matrices. Operands are staged through shared memory (zero-filled
// past the edges, transposes resolved there), and the accumulators go back through shared memory
// so the common epilogue handles edges, fp16/fp32 output, bias, relu and split-K partials.
layout(constant_id = 1) const uint CM_M = 16;
layout(constant_id = 2) const uint CM_N = 16;
layout(constant_id = 3) const uint CM_K = 16;
layout(constant_id = 4) const uint SG_ROWS = 2;
layout(constant_id = 5) const uint SG_COLS = 2;
layout(constant_id = 6) const bool TRANS_A = false;
layout(constant_id = 7) const bool TRANS_B = false;
layout(constant_id = 8) const bool OUT_F32 = false;
layout(constant_id = 9) const uint BIAS = 0;
layout(constant_id = 10) const bool RELU = false;
layout(constant_id = 11) const bool PARTIAL = false;
layout(constant_id = 12) const uint TILES_M = 2;
layout(constant_id = 13) const uint TILES_N = 2;
layout(constant_id = 14) const uint K_STEPS = 2;   // CM_K slices per shared-memory stage

const uint BM = SG_ROWS * TILES_M * CM_M;
const uint BN = SG_COLS * TILES_N * CM_N;
const uint BK = K_STEPS * CM_K;

layout(binding = 0) readonly buffer A_ { sfp A[]; };
layout(binding = 1) readonly buffer B_ { sfp B[]; };
layout(binding = 2) buffer C_ { sfp C[]; };
layout(binding = 3) buffer C32_ { float C32[]; };
layout(binding = 4) readonly buffer Bias_ { sfp BIAS_BUF[]; };

#include "gemm_common.glsl"

shared float16_t As[BM * BK];   // row-major [BM][BK]
shared float16_t Bs[BK * BN];   // row-major [BK][BN]
shared float Cs[BM * BN];       // row-major [BM][BN]

void main() {
    uint threads = gl_WorkGroupSize.x;
    uint tid = gl_LocalInvocationID.x;
    uint sr = gl_SubgroupID / SG_COLS, sc = gl_SubgroupID % SG_COLS;
    uint m0 = gl_WorkGroupID.y * BM, n0 = tile_x() * BN;
    uint b = gl_WorkGroupID.z / pc.splits, split = gl_WorkGroupID.z % pc.splits;
    uint k_begin = split * pc.k_chunk, k_end = min(pc.K, k_begin + pc.k_chunk);
    uint a_base = b * pc.stride_a, b_base = b * pc.stride_b;

    coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator> acc[TILES_M][TILES_N];
    for (uint i = 0; i < TILES_M; ++i)
        for (uint j = 0; j < TILES_N; ++j)
            acc[i][j] = coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator>(0.0);

    for (uint k0 = k_begin; k0 < k_end; k0 += BK) {
        for (uint e = tid; e < BM * BK; e += threads) {
            uint r = TRANS_A ? e % BM : e / BK, c = TRANS_A ? e / BM : e % BK;
            uint m = m0 + r, k = k0 + c;
            As[r * BK + c] = (m < pc.M && k < k_end) ? load_op_a(a_base, m, k) : float16_t(0);
        }
        for (uint e = tid; e < BN * BK; e += threads) {
            uint r = TRANS_B ? e / BK : e % BN, c = TRANS_B ? e % BK : e / BN;
            uint n = n0 + r, k = k0 + c;
            Bs[c * BN + r] = (n < pc.N && k < k_end) ? load_op_b(b_base, k, n) : float16_t(0);
        }
        barrier();
        for (uint ks = 0; ks < K_STEPS; ++ks) {
            coopmat<float16_t, gl_ScopeSubgroup, CM_M, CM_K, gl_MatrixUseA> a[TILES_M];
            coopmat<float16_t, gl_ScopeSubgroup, CM_K, CM_N, gl_MatrixUseB> bm[TILES_N];
            for (uint i = 0; i < TILES_M; ++i)
                coopMatLoad(a[i], As, ((sr * TILES_M + i) * CM_M) * BK + ks * CM_K, BK,
                            gl_CooperativeMatrixLayoutRowMajor);
            for (uint j = 0; j < TILES_N; ++j)
                coopMatLoad(bm[j], Bs, (ks * CM_K) * BN + (sc * TILES_N + j) * CM_N, BN,
                            gl_CooperativeMatrixLayoutRowMajor);
            for (uint i = 0; i < TILES_M; ++i)
                for (uint j = 0; j < TILES_N; ++j) acc[i][j] = coopMatMulAdd(a[i], bm[j], acc[i][j]);
        }
        barrier();
    }

    for (uint i = 0; i < TILES_M; ++i)
        for (uint j = 0; j < TILES_N; ++j)
            coopMatStore(acc[i][j], Cs, ((sr * TILES_M + i) * CM_M) * BN + (sc * TILES_N + j) * CM_N, BN,
                         gl_CooperativeMatrixLayoutRowMajor);
    barrier();
    for (uint e = tid; e < BM * BN; e += threads) {
        uint m = m0 + e / BN, n = n0 + e % BN;
        if (m < pc.M && n < pc.N) gemm_finish(b, split, m, n, Cs[e]);
    }
}
