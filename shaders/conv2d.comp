#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Conv2d as an implicit GEMM over NCHW tensors, C[m,n] = sum_k A[m,k] * B[k,n], fp32 accumulate;
// no im2col buffer: A and B are gathered from the tensors as the products need them.
//   MODE 0 forward:        Y[b,co,oh,ow] = sum_{ci,kh,kw} W[co,ci,kh,kw] X[b,ci,oh*s-p+kh*d,ow*s-p+kw*d] + bias[co]
//                          m = co, n = (b,oh,ow), k = (ci,kh,kw)
//   MODE 1 data gradient:  dX[b,ci,ih,iw] = sum_{co,kh,kw} W[co,ci,kh,kw] dY[b,co,oh,ow] where ih = oh*s-p+kh*d
//                          m = ci, n = (b,ih,iw), k = (co,kh,kw)
//   MODE 2 weight gradient: dW[co,ci,kh,kw] = sum_{b,oh,ow} dY[b,co,oh,ow] X[b,ci,oh*s-p+kh*d,ow*s-p+kw*d]
//                          m = co, n = (ci,kh,kw), k = (b,oh,ow); split along k with PARTIAL
// Each invocation owns a TM x TN register block; edges are clamped for loads and skipped at stores.
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint TM = 4;
layout(constant_id = 3) const uint TN = 4;
layout(constant_id = 4) const uint WN = 16;        // invocations along n; workgroup = WM * WN
layout(constant_id = 5) const bool BIAS = false;
layout(constant_id = 6) const bool RELU = false;
layout(constant_id = 7) const bool PARTIAL = false;

layout(binding = 0) readonly buffer X_ { sfp X[]; };     // forward/weight grad: input; data grad: unused
layout(binding = 1) readonly buffer W_ { sfp Wt[]; };    // forward/data grad: weight; weight grad: unused
layout(binding = 2) readonly buffer DY_ { sfp DY[]; };   // data/weight grad: output gradient
layout(binding = 3) readonly buffer Bias_ { sfp BIAS_BUF[]; };
layout(binding = 4) buffer Out_ { sfp OUT[]; };          // Y, dX or dW
layout(binding = 5) buffer Partial_ { float PARTIALS[]; }; // split-K workspace [splits, M, N]
layout(push_constant) uniform Push {
    uint batch, cin, h, w, cout, kh, kw, oh, ow;
    uint stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint k_chunk;        // split-K: k range per workgroup z
} pc;

SCALAR_LOAD(X)
SCALAR_LOAD(Wt)
SCALAR_LOAD(DY)
SCALAR_LOAD(BIAS_BUF)
ELEMENT_STORE(OUT)

uint dim_m() { return MODE == 1u ? pc.cin : pc.cout; }
uint dim_n() {
    return MODE == 0u ? pc.batch * pc.oh * pc.ow : MODE == 1u ? pc.batch * pc.h * pc.w : pc.cin * pc.kh * pc.kw;
}
uint dim_k() { return MODE == 0u ? pc.cin * pc.kh * pc.kw : MODE == 1u ? pc.cout * pc.kh * pc.kw : pc.batch * pc.oh * pc.ow; }

// x[b, ci, ih, iw] with zero padding outside the image.
float input_at(uint b, uint ci, int ih, int iw) {
    if (ih < 0 || iw < 0 || ih >= int(pc.h) || iw >= int(pc.w)) return 0.0;
    return float(X_load(((b * pc.cin + ci) * pc.h + uint(ih)) * pc.w + uint(iw)));
}

float load_a(uint m, uint k) {
    uint taps = pc.kh * pc.kw;
    if (MODE == 0u) return float(Wt_load(m * pc.cin * taps + k));
    if (MODE == 1u) return float(Wt_load(((k / taps) * pc.cin + m) * taps + k % taps));
    uint spatial = pc.oh * pc.ow;  // MODE 2: dY[b, co=m, (oh,ow)] with k = (b, oh, ow)
    return float(DY_load(((k / spatial) * pc.cout + m) * spatial + k % spatial));
}

float load_b(uint k, uint n) {
    uint taps = pc.kh * pc.kw;
    if (MODE == 0u) {
        uint ci = k / taps, t = k % taps, spatial = pc.oh * pc.ow;
        uint b = n / spatial, s = n % spatial;
        int ih = int((s / pc.ow) * pc.stride_h) - int(pc.pad_h) + int((t / pc.kw) * pc.dil_h);
        int iw = int((s % pc.ow) * pc.stride_w) - int(pc.pad_w) + int((t % pc.kw) * pc.dil_w);
        return input_at(b, ci, ih, iw);
    }
    if (MODE == 1u) {
        uint co = k / taps, t = k % taps, plane = pc.h * pc.w;
        uint b = n / plane, ih = (n % plane) / pc.w, iw = n % pc.w;
        int th = int(ih) + int(pc.pad_h) - int((t / pc.kw) * pc.dil_h);
        int tw = int(iw) + int(pc.pad_w) - int((t % pc.kw) * pc.dil_w);
        if (th < 0 || tw < 0 || th % int(pc.stride_h) != 0 || tw % int(pc.stride_w) != 0) return 0.0;
        uint oh = uint(th) / pc.stride_h, ow = uint(tw) / pc.stride_w;
        if (oh >= pc.oh || ow >= pc.ow) return 0.0;
        return float(DY_load(((b * pc.cout + co) * pc.oh + oh) * pc.ow + ow));
    }
    uint spatial = pc.oh * pc.ow;  // MODE 2: x gathered at (b, ci, kh, kw) for k = (b, oh, ow), n = (ci, kh, kw)
    uint b = k / spatial, s = k % spatial, ci = n / taps, t = n % taps;
    int ih = int((s / pc.ow) * pc.stride_h) - int(pc.pad_h) + int((t / pc.kw) * pc.dil_h);
    int iw = int((s % pc.ow) * pc.stride_w) - int(pc.pad_w) + int((t % pc.kw) * pc.dil_w);
    return input_at(b, ci, ih, iw);
}

void store(uint m, uint n, float acc, uint split) {
    if (PARTIAL) {
        PARTIALS[(split * dim_m() + m) * dim_n() + n] = acc;
        return;
    }
    uint index;
    if (MODE == 0u) {
        uint spatial = pc.oh * pc.ow;
        index = ((n / spatial) * pc.cout + m) * spatial + n % spatial;
        if (BIAS) acc += float(BIAS_BUF_load(m));
        if (RELU) acc = max(acc, 0.0);
    } else if (MODE == 1u) {
        uint plane = pc.h * pc.w;
        index = ((n / plane) * pc.cin + m) * plane + n % plane;
    } else {
        index = m * dim_n() + n;
    }
    OUT_store1(index, acc);
}

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % WN, ty = tid / WN;
    uint WM = gl_WorkGroupSize.x / WN;
    uint M = dim_m(), N = dim_n(), K = dim_k();
    uint mb = (gl_WorkGroupID.y * WM + ty) * TM, nb = (gl_WorkGroupID.x * WN + tx) * TN;
    uint split = gl_WorkGroupID.z;
    uint k_begin = split * pc.k_chunk, k_end = min(K, k_begin + pc.k_chunk);

    float acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;
    for (uint k = k_begin; k < k_end; ++k) {
        float a[TM], bv[TN];
        for (uint i = 0; i < TM; ++i) a[i] = load_a(min(mb + i, M - 1u), k);
        for (uint j = 0; j < TN; ++j) bv[j] = load_b(k, min(nb + j, N - 1u));
        for (uint i = 0; i < TM; ++i)
            for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
    }
    for (uint i = 0; i < TM; ++i) {
        if (mb + i >= M) continue;
        for (uint j = 0; j < TN; ++j)
            if (nb + j < N) store(mb + i, nb + j, acc[i][j], split);
    }
}
