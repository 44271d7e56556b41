// gemm_common.glsl: what every GEMM kernel shares. Include after declaring the buffers
//   A (sfp), B (sfp), C (sfp), C32 (float), BIAS_BUF (sfp)   at bindings 0..4
// and the specialization constants TRANS_A, TRANS_B, OUT_F32, BIAS, RELU, PARTIAL.
//
// C = alpha * op(A) * op(B) + beta * C (+ bias) (relu), per batch b:
//   op(A)[m,k] = TRANS_A ? A[b*stride_a + k*lda + m] : A[b*stride_a + m*lda + k]
//   op(B)[k,n] = TRANS_B ? B[b*stride_b + n*ldb + k] : B[b*stride_b + k*ldb + n]
//   C[b*stride_c + m*ldc + n], bias[n] (BIAS == 1) or bias[m] (BIAS == 2)
// Split-K: workgroup z = b * splits + split covers k in [split*k_chunk, min(K, (split+1)*k_chunk));
// with PARTIAL the raw fp32 sums go to the workspace (bound as C32) at ((split*batch + b)*M + m)*N + n
// and gemm_splitk_reduce.comp adds them up and applies the epilogue.

layout(push_constant) uniform Push {
    uint M, N, K;
    uint lda, ldb, ldc;
    uint stride_a, stride_b, stride_c;
    uint batch;
    uint k_chunk;
    uint splits;
    float alpha, beta;
    uint group_x0;   // the first x workgroup of this dispatch (wide grids run as several)
} pc;

// The workgroup's column of tiles across the whole grid.
uint tile_x() { return gl_WorkGroupID.x + pc.group_x0; }

SCALAR_LOAD(A)
SCALAR_LOAD(B)
SCALAR_LOAD(BIAS_BUF)

afp load_op_a(uint base, uint m, uint k) {
    return A_load(base + (TRANS_A ? k * pc.lda + m : m * pc.lda + k));
}
afp load_op_b(uint base, uint k, uint n) {
    return B_load(base + (TRANS_B ? n * pc.ldb + k : k * pc.ldb + n));
}

float load_c(uint i) {
    if (OUT_F32) return C32[i];
#ifdef VKH_PACKED
    return unpackHalf2x16(C[i >> 1])[i & 1u];
#else
    return float(C[i]);
#endif
}

void write_c(uint i, float v) {
    if (OUT_F32) {
        C32[i] = v;
        return;
    }
#ifdef VKH_PACKED
    // Two fp16 outputs share a uint and may belong to different invocations (odd N, tile
    // edges): replace our half with two atomics so the neighbour's half is never clobbered.
    uint shift = (i & 1u) * 16u;
    uint bits = packHalf2x16(vec2(v, 0.0)) & 0xffffu;
    atomicAnd(C[i >> 1], ~(0xffffu << shift));
    atomicOr(C[i >> 1], bits << shift);
#else
    C[i] = sfp(v);
#endif
}

// alpha*acc (+ beta*C) (+ bias) (relu) into C[b, m, n]; the caller checks m < M and n < N.
void gemm_epilogue(uint b, uint m, uint n, float acc) {
    uint i = b * pc.stride_c + m * pc.ldc + n;
    float v = pc.alpha * acc;
    if (pc.beta != 0.0) v += pc.beta * load_c(i);   // beta == 0 never reads C: it may hold NaN
    if (BIAS == 1u) v += float(BIAS_BUF_load(n));
    if (BIAS == 2u) v += float(BIAS_BUF_load(m));
    if (RELU) v = max(v, 0.0);
    write_c(i, v);
}

// What a kernel does with its sum for (b, split, m, n).
void gemm_finish(uint b, uint split, uint m, uint n, float acc) {
    if (PARTIAL)
        C32[((split * pc.batch + b) * pc.M + m) * pc.N + n] = acc;
    else
        gemm_epilogue(b, m, n, acc);
}
