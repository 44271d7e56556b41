#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"

// C[m,n] = alpha * sum_k op(A)[m,k] * op(B)[k,n] + beta * C[m,n] (+ bias) (relu)
// fp16 x fp16 -> fp32 on VK_KHR_cooperative_matrix, subgroup scope. The matrix shape
// CM_M x CM_N x CM_K is one the device lists; the workgroup shape (subgroups, accumulator tiles
// per subgroup, K steps per stage, stages) comes from the host's catalogue (CoopmatTile), all in
// specialization constants.
//
// How it keeps the matrix units fed:
// - Operands move global -> registers -> shared memory in chunks of eight halfs: one 128-bit load
//   where the host found the rows aligned (VEC8_A/B), eight bounds-checked scalar loads at the
//   edges and elsewhere. Shared memory keeps each operand as it lies in memory (a transposed
//   operand stays transposed and is read column-major by coopMatLoad), so every chunk is one
//   contiguous store and no lane scatters.
// - Shared rows are padded by eight halfs (16 bytes): consecutive rows start in different banks
//   when the subgroup reads a matrix out of them.
// - With STAGES = 2 the next K tile's global loads are issued before the current tile's
//   multiply-adds and land in the other shared buffer afterwards: one barrier per K tile, and the
//   memory latency hides behind the math.
// - Each subgroup owns TILES_M x TILES_N accumulators, so an A fragment is reused TILES_N times
//   and a B fragment TILES_M times.
// - Interior workgroup tiles with a plain epilogue (alpha, beta; no bias, relu or split-K
//   partials, aligned C: DIRECT) store straight from the accumulators. The others go through a
//   small per-subgroup fp32 scratch so the common epilogue handles edges, bias, relu and partials.
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
layout(constant_id = 15) const uint SG_SIZE = 32;  // the subgroup size the host planned (pinned)
layout(constant_id = 16) const uint STAGES = 2;    // 1: load, barrier, multiply, barrier; 2: double buffered
layout(constant_id = 17) const bool VEC8_A = false;
layout(constant_id = 18) const bool VEC8_B = false;
layout(constant_id = 19) const bool DIRECT = false;

const uint BM = SG_ROWS * TILES_M * CM_M;
const uint BN = SG_COLS * TILES_N * CM_N;
const uint BK = K_STEPS * CM_K;
const uint THREADS = SG_ROWS * SG_COLS * SG_SIZE;
const uint PAD = 8;  // halfs of padding per shared row

// Each operand's tile as it lies in memory: ROWS rows of W contiguous halfs. Shared rows hold
// W + PAD halfs, counted in f16vec4 (the shared arrays' element: coopMatLoad offsets and strides
// are in those units).
const uint A_ROWS = TRANS_A ? BK : BM;
const uint A_W = TRANS_A ? BM : BK;
const uint B_ROWS = TRANS_B ? BN : BK;
const uint B_W = TRANS_B ? BK : BN;
const uint A_LD = (A_W + PAD) / 4;
const uint B_LD = (B_W + PAD) / 4;
const uint A_STAGE = A_ROWS * A_LD;
const uint B_STAGE = B_ROWS * B_LD;
const uint A_CHUNKS = A_ROWS * (A_W / 8);
const uint B_CHUNKS = B_ROWS * (B_W / 8);
const uint A_PER = (A_CHUNKS + THREADS - 1) / THREADS;  // chunks each invocation moves
const uint B_PER = (B_CHUNKS + THREADS - 1) / THREADS;

layout(binding = 0) readonly buffer A_ { sfp A[]; };
layout(binding = 0) readonly buffer A8_ { uvec4 A8[]; };
layout(binding = 1) readonly buffer B_ { sfp B[]; };
layout(binding = 1) readonly buffer B8_ { uvec4 B8[]; };
layout(binding = 2) buffer C_ { sfp C[]; };
layout(binding = 3) buffer C32_ { float C32[]; };
layout(binding = 4) readonly buffer Bias_ { sfp BIAS_BUF[]; };

#include "gemm_common.glsl"

shared f16vec4 As[STAGES * A_STAGE];
shared f16vec4 Bs[STAGES * B_STAGE];
shared float Cs[SG_ROWS * SG_COLS * CM_M * CM_N];  // one accumulator tile per subgroup

f16vec4 ra[2 * A_PER];  // the chunks in flight from global memory, two f16vec4 each
f16vec4 rb[2 * B_PER];

// Eight halfs of a row starting at element `at`, of which the first `valid` are in range.
#define FETCH8(buf, buf8, vec8, at, valid, lo, hi)                                                   \
    if (vec8 && valid >= 8u) {                                                                       \
        uvec4 u = buf8[(at) >> 3];                                                                   \
        lo = f16vec4(unpackFloat2x16(u.x), unpackFloat2x16(u.y));                                    \
        hi = f16vec4(unpackFloat2x16(u.z), unpackFloat2x16(u.w));                                    \
    } else {                                                                                         \
        float16_t v[8];                                                                              \
        for (uint q = 0; q < 8u; ++q) v[q] = q < valid ? float16_t(buf[(at) + q]) : float16_t(0);    \
        lo = f16vec4(v[0], v[1], v[2], v[3]);                                                        \
        hi = f16vec4(v[4], v[5], v[6], v[7]);                                                        \
    }

// The K tile starting at k0 of op(A) (rows m0.. of the product) and op(B) (columns n0..) into
// registers; zero past M, N and the split's end of K.
void fetch(uint a_base, uint b_base, uint m0, uint n0, uint k0, uint k_end) {
    uint tid = gl_LocalInvocationID.x;
    for (uint i = 0; i < A_PER; ++i) {
        uint e = tid + i * THREADS, r = e / (A_W / 8u), c = (e % (A_W / 8u)) * 8u;
        uint row = (TRANS_A ? k0 : m0) + r, col = (TRANS_A ? m0 : k0) + c;
        uint rows = TRANS_A ? k_end : pc.M, cols = TRANS_A ? pc.M : k_end;
        uint valid = e < A_CHUNKS && row < rows && col < cols ? min(cols - col, 8u) : 0u;
        FETCH8(A, A8, VEC8_A, a_base + row * pc.lda + col, valid, ra[2 * i], ra[2 * i + 1])
    }
    for (uint i = 0; i < B_PER; ++i) {
        uint e = tid + i * THREADS, r = e / (B_W / 8u), c = (e % (B_W / 8u)) * 8u;
        uint row = (TRANS_B ? n0 : k0) + r, col = (TRANS_B ? k0 : n0) + c;
        uint rows = TRANS_B ? pc.N : k_end, cols = TRANS_B ? k_end : pc.N;
        uint valid = e < B_CHUNKS && row < rows && col < cols ? min(cols - col, 8u) : 0u;
        FETCH8(B, B8, VEC8_B, b_base + row * pc.ldb + col, valid, rb[2 * i], rb[2 * i + 1])
    }
}

void stash(uint stage) {
    uint tid = gl_LocalInvocationID.x;
    for (uint i = 0; i < A_PER; ++i) {
        uint e = tid + i * THREADS;
        if (e >= A_CHUNKS) break;
        uint at = stage * A_STAGE + (e / (A_W / 8u)) * A_LD + (e % (A_W / 8u)) * 2u;
        As[at] = ra[2 * i];
        As[at + 1u] = ra[2 * i + 1];
    }
    for (uint i = 0; i < B_PER; ++i) {
        uint e = tid + i * THREADS;
        if (e >= B_CHUNKS) break;
        uint at = stage * B_STAGE + (e / (B_W / 8u)) * B_LD + (e % (B_W / 8u)) * 2u;
        Bs[at] = rb[2 * i];
        Bs[at + 1u] = rb[2 * i + 1];
    }
}

coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator> acc[TILES_M][TILES_N];

void multiply(uint stage, uint sr, uint sc) {
    for (uint ks = 0; ks < K_STEPS; ++ks) {
        coopmat<float16_t, gl_ScopeSubgroup, CM_M, CM_K, gl_MatrixUseA> a[TILES_M];
        coopmat<float16_t, gl_ScopeSubgroup, CM_K, CM_N, gl_MatrixUseB> bm[TILES_N];
        uint k = ks * CM_K;
        for (uint i = 0; i < TILES_M; ++i) {
            uint m = (sr * TILES_M + i) * CM_M;
            if (TRANS_A)  // As holds [k][m]: op(A) is column-major there
                coopMatLoad(a[i], As, stage * A_STAGE + k * A_LD + m / 4u, A_LD, gl_CooperativeMatrixLayoutColumnMajor);
            else
                coopMatLoad(a[i], As, stage * A_STAGE + m * A_LD + k / 4u, A_LD, gl_CooperativeMatrixLayoutRowMajor);
        }
        for (uint j = 0; j < TILES_N; ++j) {
            uint n = (sc * TILES_N + j) * CM_N;
            if (TRANS_B)  // Bs holds [n][k]
                coopMatLoad(bm[j], Bs, stage * B_STAGE + n * B_LD + k / 4u, B_LD, gl_CooperativeMatrixLayoutColumnMajor);
            else
                coopMatLoad(bm[j], Bs, stage * B_STAGE + k * B_LD + n / 4u, B_LD, gl_CooperativeMatrixLayoutRowMajor);
        }
        for (uint i = 0; i < TILES_M; ++i)
            for (uint j = 0; j < TILES_N; ++j) acc[i][j] = coopMatMulAdd(a[i], bm[j], acc[i][j]);
    }
}

void main() {
    uint sr = gl_SubgroupID / SG_COLS, sc = gl_SubgroupID % SG_COLS;
    uint m0 = gl_WorkGroupID.y * BM, n0 = tile_x() * BN;
    uint b = gl_WorkGroupID.z / pc.splits, split = gl_WorkGroupID.z % pc.splits;
    uint k_begin = split * pc.k_chunk, k_end = min(pc.K, k_begin + pc.k_chunk);
    uint tiles_k = k_end > k_begin ? (k_end - k_begin + BK - 1u) / BK : 0u;
    uint a_base = b * pc.stride_a, b_base = b * pc.stride_b;

    for (uint i = 0; i < TILES_M; ++i)
        for (uint j = 0; j < TILES_N; ++j)
            acc[i][j] = coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator>(0.0);

    if (tiles_k > 0u) {
        fetch(a_base, b_base, m0, n0, k_begin, k_end);
        stash(0u);
        barrier();
    }
    for (uint t = 0; t < tiles_k; ++t) {
        bool more = t + 1u < tiles_k;  // uniform: every barrier below is reached by all
        uint k_next = k_begin + (t + 1u) * BK;
        if (STAGES == 2u) {
            if (more) fetch(a_base, b_base, m0, n0, k_next, k_end);  // in flight during the math
            multiply(t & 1u, sr, sc);
            if (more) {
                stash((t + 1u) & 1u);  // the buffer read one tile ago: every lane passed a barrier since
                barrier();
            }
        } else {
            multiply(0u, sr, sc);
            if (more) {
                barrier();
                fetch(a_base, b_base, m0, n0, k_next, k_end);
                stash(0u);
                barrier();
            }
        }
    }

    if (DIRECT && m0 + BM <= pc.M && n0 + BN <= pc.N) {
        for (uint i = 0; i < TILES_M; ++i) {
            for (uint j = 0; j < TILES_N; ++j) {
                uint at = b * pc.stride_c + (m0 + (sr * TILES_M + i) * CM_M) * pc.ldc + n0 + (sc * TILES_N + j) * CM_N;
                coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator> v = acc[i][j] * pc.alpha;
                if (OUT_F32) {
                    if (pc.beta != 0.0) {  // beta == 0 never reads C: it may hold NaN
                        coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator> old;
                        coopMatLoad(old, C32, at, pc.ldc, gl_CooperativeMatrixLayoutRowMajor);
                        v = v + old * pc.beta;
                    }
                    coopMatStore(v, C32, at, pc.ldc, gl_CooperativeMatrixLayoutRowMajor);
                } else {
                    if (pc.beta != 0.0) {
                        coopmat<float16_t, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator> old16;
                        coopMatLoad(old16, C, at, pc.ldc, gl_CooperativeMatrixLayoutRowMajor);
                        v = v + coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator>(old16) * pc.beta;
                    }
                    coopMatStore(coopmat<float16_t, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator>(v), C, at,
                                 pc.ldc, gl_CooperativeMatrixLayoutRowMajor);
                }
            }
        }
        return;
    }

    // Edges, bias, relu, partials: each subgroup walks its tiles through its own scratch. Every
    // subgroup takes every step, tiles past M or N included: skipping them (subgroup-uniform, legal)
    // made lavapipe 26.1 write wrong edge tiles once a workgroup had several subgroups.
    uint scratch = gl_SubgroupID * CM_M * CM_N, lane = gl_SubgroupInvocationID;
    for (uint i = 0; i < TILES_M; ++i) {
        for (uint j = 0; j < TILES_N; ++j) {
            uint tm = m0 + (sr * TILES_M + i) * CM_M, tn = n0 + (sc * TILES_N + j) * CM_N;
            coopMatStore(acc[i][j], Cs, scratch, CM_N, gl_CooperativeMatrixLayoutRowMajor);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            for (uint e = lane; e < CM_M * CM_N; e += SG_SIZE) {
                uint m = tm + e / CM_N, n = tn + e % CM_N;
                if (m < pc.M && n < pc.N) gemm_finish(b, split, m, n, Cs[scratch + e]);
            }
            subgroupBarrier();  // every lane has read the scratch before the next tile overwrites it
        }
    }
}
