#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"

// C[m,n] = alpha * sum_k op(A)[m,k] * op(B)[k,n] + beta * C[m,n] (+ bias) (relu)
// fp32 accumulate. Register-blocked without shared memory: each invocation owns a TM x TN block
// of C (rows m0 + ty*TM + i, columns n0 + tx*TN + j) and reads op(A) and op(B) straight from
// memory. On CPU devices (lavapipe) this beats staging through shared memory, whose barriers cost
// more than they save, and every storage load is a bounds-checked load per lane, so with VEC4
// the kernel reads aligned groups of four along whichever axis is contiguous in memory:
//   op(A) rows along k (A row-major) or four rows at once along m (A transposed),
//   op(B) columns along k (B transposed) or four columns at once along n (B row-major),
// and each pair of 4-vectors over k feeds one 4-term dot product. The host sets VEC4 only when
// TM and TN are multiples of 4 and so are the leading dimensions and batch strides; the K tail
// runs scalar. A group of four along m (A transposed) or n (B row-major) may reach past M or N
// up to the leading dimension (a padded view), never past it: those columns are computed and
// dropped.
// SHARE_A (TM a multiple of the subgroup size, which is a multiple of 4, and a subgroup's lanes
// share their rows): the lanes of a subgroup
// need the same TM groups of op(A), so each lane loads one and a subgroup shuffle (with a uniform
// lane index: a broadcast) hands it to all; TM loads per lane become one. The host requires
// subgroup shuffle support for this kernel.
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
layout(constant_id = 15) const bool VEC4 = false;
layout(constant_id = 16) const bool SHARE_A = false;
layout(constant_id = 17) const uint SG = 8;        // the device's (fixed) subgroup size, for SHARE_A

layout(binding = 0) readonly buffer A_ { sfp A[]; };
layout(binding = 0) readonly buffer A4_ { sfp4 A4[]; };
layout(binding = 1) readonly buffer B_ { sfp B[]; };
layout(binding = 1) readonly buffer B4_ { sfp4 B4[]; };
layout(binding = 2) buffer C_ { sfp C[]; };
layout(binding = 3) buffer C32_ { float C32[]; };
layout(binding = 4) readonly buffer Bias_ { sfp BIAS_BUF[]; };

#include "gemm_common.glsl"
VEC4_LOAD(A4)
VEC4_LOAD(B4)

void main() {
    const uint WN = BN / TN;
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % WN, ty = tid / WN;
    uint mb = gl_WorkGroupID.y * BM + ty * TM, nb = tile_x() * BN + tx * TN;
    uint b = gl_WorkGroupID.z / pc.splits, split = gl_WorkGroupID.z % pc.splits;
    uint k_begin = split * pc.k_chunk, k_end = min(pc.K, k_begin + pc.k_chunk);
    uint a_base = b * pc.stride_a, b_base = b * pc.stride_b;

    // Rows/columns past the edge are clamped for loading (always in bounds) and skipped at the
    // end. Groups of four along m (or n) start at most at lda-4 (ldb-4), both multiples of 4
    // with VEC4: a group lies inside its row whether or not M (N) is a multiple of 4.
    uint rows[TM], cols[TN];
    for (uint i = 0; i < TM; ++i) rows[i] = min(mb + i, pc.M - 1u);
    for (uint j = 0; j < TN; ++j) cols[j] = min(nb + j, pc.N - 1u);

    float acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

    uint k = k_begin;
    if (VEC4) {
        uint k_vec_end = k_begin + ((k_end - k_begin) & ~3u);
        for (; k < k_vec_end; k += 4u) {
            afp4 a[TM], bv[TN];
            if (SHARE_A) {
                // S = gl_SubgroupSize lanes share the TM rows: lane l loads rows l, l+S, ... (or,
                // transposed, k+(l%4) of row groups l/4, l/4 + S/4, ...), then all lanes shuffle.
                const uint S = SG;   // a constant, so these loops unroll into registers
                uint lane = gl_SubgroupInvocationID;
                if (TRANS_A) {
                    for (uint g0 = 0; g0 < TM / 4u; g0 += S / 4u) {
                        uint m4 = min(mb + 4u * (g0 + lane / 4u), pc.lda - 4u);
                        vec4 mine = vec4(A4_load4((a_base + (k + lane % 4u) * pc.lda + m4) >> 2));
                        for (uint g = 0; g < S / 4u; ++g) {
                            vec4 r0 = subgroupShuffle(mine, 4u * g), r1 = subgroupShuffle(mine, 4u * g + 1u);
                            vec4 r2 = subgroupShuffle(mine, 4u * g + 2u), r3 = subgroupShuffle(mine, 4u * g + 3u);
                            uint i = 4u * (g0 + g);
                            for (uint c = 0; c < 4u; ++c) a[i + c] = afp4(r0[c], r1[c], r2[c], r3[c]);
                        }
                    }
                } else {
                    for (uint i0 = 0; i0 < TM; i0 += S) {
                        vec4 mine = vec4(A4_load4((a_base + min(mb + i0 + lane, pc.M - 1u) * pc.lda + k) >> 2));
                        for (uint i = 0; i < S; ++i) a[i0 + i] = afp4(subgroupShuffle(mine, i));
                    }
                }
            } else if (TRANS_A) {
                for (uint i = 0; i < TM; i += 4u) {
                    uint m4 = min(mb + i, pc.lda - 4u);
                    afp4 r0 = A4_load4((a_base + k * pc.lda + m4) >> 2);
                    afp4 r1 = A4_load4((a_base + (k + 1u) * pc.lda + m4) >> 2);
                    afp4 r2 = A4_load4((a_base + (k + 2u) * pc.lda + m4) >> 2);
                    afp4 r3 = A4_load4((a_base + (k + 3u) * pc.lda + m4) >> 2);
                    for (uint c = 0; c < 4u; ++c) a[i + c] = afp4(r0[c], r1[c], r2[c], r3[c]);
                }
            } else {
                for (uint i = 0; i < TM; ++i) a[i] = A4_load4((a_base + rows[i] * pc.lda + k) >> 2);
            }
            if (TRANS_B) {
                for (uint j = 0; j < TN; ++j) bv[j] = B4_load4((b_base + cols[j] * pc.ldb + k) >> 2);
            } else {
                for (uint j = 0; j < TN; j += 4u) {
                    uint n4 = min(nb + j, pc.ldb - 4u);
                    afp4 r0 = B4_load4((b_base + k * pc.ldb + n4) >> 2);
                    afp4 r1 = B4_load4((b_base + (k + 1u) * pc.ldb + n4) >> 2);
                    afp4 r2 = B4_load4((b_base + (k + 2u) * pc.ldb + n4) >> 2);
                    afp4 r3 = B4_load4((b_base + (k + 3u) * pc.ldb + n4) >> 2);
                    for (uint c = 0; c < 4u; ++c) bv[j + c] = afp4(r0[c], r1[c], r2[c], r3[c]);
                }
            }
            for (uint i = 0; i < TM; ++i)
                for (uint j = 0; j < TN; ++j) MAC4(acc[i][j], a[i], bv[j]);
        }
    }
    for (; k < k_end; ++k) {
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
