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
//                          m = co, n = (ci,kh,kw), k = (b,oh,ow); split by images with PARTIAL
// Grouped (groups > 1; depthwise when every group has one input channel): cin and cout below are
// per group, W is [groups * cout, cin, kh, kw], and workgroup z picks the group (for the weight
// gradient z = group * splits + split), so a block of rows never straddles two groups and each
// product is the one above over its group's channels.
// Each invocation owns a TM x TN register block; edges are clamped for loads and skipped at stores.
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint TM = 4;
layout(constant_id = 3) const uint TN = 4;
layout(constant_id = 4) const uint WN = 16;        // invocations along n; workgroup = WM * WN
layout(constant_id = 5) const bool BIAS = false;
layout(constant_id = 6) const bool RELU = false;
layout(constant_id = 7) const bool PARTIAL = false;
layout(constant_id = 8) const bool UNIT_STRIDE = false;  // stride 1: no divisibility test in the data gradient

layout(binding = 0) readonly buffer X_ { sfp X[]; };     // forward/weight grad: input; data grad: unused
layout(binding = 1) readonly buffer W_ { sfp Wt[]; };    // forward/data grad: weight; weight grad: unused
layout(binding = 2) readonly buffer DY_ { sfp DY[]; };   // data/weight grad: output gradient
layout(binding = 3) readonly buffer Bias_ { sfp BIAS_BUF[]; };
layout(binding = 4) buffer Out_ { sfp OUT[]; };          // Y, dX or dW
layout(binding = 5) buffer Partial_ { float PARTIALS[]; }; // split-K workspace [splits, M, N]
layout(push_constant) uniform Push {
    uint batch, cin, h, w, cout, kh, kw, oh, ow;
    uint stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint k_chunk;        // weight grad split-K: images per split
    uint groups, splits; // channel groups; weight grad: splits per group (z = group * splits + split)
    uint group_z0;       // the first z workgroup of this dispatch (more groups than the device's z limit)
    uint group_x0;       // the first x workgroup of this dispatch (wide grids run as several)
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

// m is the row within group g; tensors count channels over every group.
void store(uint g, uint m, uint n, float acc, uint split) {
    uint cout_all = pc.groups * pc.cout, cin_all = pc.groups * pc.cin;
    if (PARTIAL) {
        PARTIALS[(split * cout_all + g * pc.cout + m) * dim_n() + n] = acc;
        return;
    }
    uint index;
    if (MODE == 0u) {
        uint spatial = pc.oh * pc.ow;
        index = ((n / spatial) * cout_all + g * pc.cout + m) * spatial + n % spatial;
        if (BIAS) acc += float(BIAS_BUF_load(g * pc.cout + m));
        if (RELU) acc = max(acc, 0.0);
    } else if (MODE == 1u) {
        uint plane = pc.h * pc.w;
        index = ((n / plane) * cin_all + g * pc.cin + m) * plane + n % plane;
    } else {
        index = (g * pc.cout + m) * dim_n() + n;
    }
    OUT_store1(index, acc);
}

// The reduction runs as loop nests over (ci, kh, kw) or (b, oh, ow), never dividing inside: each
// invocation decomposes its TN columns and TM rows once, then only adds and multiplies.
void main() {
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % WN, ty = tid / WN;
    uint WM = gl_WorkGroupSize.x / WN;
    uint M = dim_m(), N = dim_n();
    uint mb = (gl_WorkGroupID.y * WM + ty) * TM, nb = ((gl_WorkGroupID.x + pc.group_x0) * WN + tx) * TN;
    uint z = gl_WorkGroupID.z + pc.group_z0;
    uint g = MODE == 2u ? z / pc.splits : z;
    uint split = MODE == 2u ? z % pc.splits : 0u;
    uint hw = pc.h * pc.w, ohw = pc.oh * pc.ow, taps = pc.kh * pc.kw;
    uint cin_all = pc.groups * pc.cin, cout_all = pc.groups * pc.cout;
    uint w_base = g * pc.cout * pc.cin * taps;  // the group's first weight

    uint rows[TM];
    for (uint i = 0; i < TM; ++i) rows[i] = min(mb + i, M - 1u);
    // Per column: where its window (forward, weight grad) or its pixel (data grad) sits.
    int col_y[TN], col_x[TN];
    uint col_base[TN];
    for (uint j = 0; j < TN; ++j) {
        uint n = min(nb + j, N - 1u);
        if (MODE == 0u) {         // n = (b, oh, ow): window origin in x
            uint b = n / ohw, s = n % ohw;
            col_base[j] = (b * cin_all + g * pc.cin) * hw;
            col_y[j] = int((s / pc.ow) * pc.stride_h) - int(pc.pad_h);
            col_x[j] = int((s % pc.ow) * pc.stride_w) - int(pc.pad_w);
        } else if (MODE == 1u) {  // n = (b, ih, iw): the input pixel, shifted by the padding
            uint b = n / hw, s = n % hw;
            col_base[j] = (b * cout_all + g * pc.cout) * ohw;
            col_y[j] = int(s / pc.w) + int(pc.pad_h);
            col_x[j] = int(s % pc.w) + int(pc.pad_w);
        } else {                  // n = (ci, kh, kw): the tap's offset into every window
            uint ci = n / taps, t = n % taps;
            col_base[j] = (g * pc.cin + ci) * hw;
            col_y[j] = int((t / pc.kw) * pc.dil_h) - int(pc.pad_h);
            col_x[j] = int((t % pc.kw) * pc.dil_w) - int(pc.pad_w);
        }
    }

    float acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

    if (MODE == 0u) {
        for (uint ci = 0; ci < pc.cin; ++ci)
            for (uint kh = 0; kh < pc.kh; ++kh)
                for (uint kw = 0; kw < pc.kw; ++kw) {
                    uint k = (ci * pc.kh + kh) * pc.kw + kw;
                    float a[TM], bv[TN];
                    for (uint i = 0; i < TM; ++i) a[i] = float(Wt_load(w_base + rows[i] * pc.cin * taps + k));
                    for (uint j = 0; j < TN; ++j) {
                        int y = col_y[j] + int(kh * pc.dil_h), x = col_x[j] + int(kw * pc.dil_w);
                        bool inside = y >= 0 && x >= 0 && y < int(pc.h) && x < int(pc.w);
                        bv[j] = inside ? float(X_load(col_base[j] + ci * hw + uint(y) * pc.w + uint(x))) : 0.0;
                    }
                    for (uint i = 0; i < TM; ++i)
                        for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
                }
    } else if (MODE == 1u) {
        for (uint co = 0; co < pc.cout; ++co)
            for (uint kh = 0; kh < pc.kh; ++kh)
                for (uint kw = 0; kw < pc.kw; ++kw) {
                    float a[TM], bv[TN];
                    for (uint i = 0; i < TM; ++i)
                        a[i] = float(Wt_load(w_base + ((co * pc.cin + rows[i]) * pc.kh + kh) * pc.kw + kw));
                    for (uint j = 0; j < TN; ++j) {
                        // this pixel is tap (kh, kw) of output (oh, ow) when stride divides the offset
                        int ty_ = col_y[j] - int(kh * pc.dil_h), tx_ = col_x[j] - int(kw * pc.dil_w);
                        bool hit = ty_ >= 0 && tx_ >= 0;
                        uint oh = uint(max(ty_, 0)), ow = uint(max(tx_, 0));
                        if (!UNIT_STRIDE) {
                            hit = hit && ty_ % int(pc.stride_h) == 0 && tx_ % int(pc.stride_w) == 0;
                            oh /= pc.stride_h;
                            ow /= pc.stride_w;
                        }
                        hit = hit && oh < pc.oh && ow < pc.ow;
                        bv[j] = hit ? float(DY_load(col_base[j] + co * ohw + oh * pc.ow + ow)) : 0.0;
                    }
                    for (uint i = 0; i < TM; ++i)
                        for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
                }
    } else {
        // k = (b, oh, ow); split-K hands each workgroup z a range of whole images.
        uint b_begin = split * pc.k_chunk, b_end = min(pc.batch, b_begin + pc.k_chunk);
        for (uint b = b_begin; b < b_end; ++b)
            for (uint oh = 0; oh < pc.oh; ++oh)
                for (uint ow = 0; ow < pc.ow; ++ow) {
                    float a[TM], bv[TN];
                    for (uint i = 0; i < TM; ++i)
                        a[i] = float(DY_load((b * cout_all + g * pc.cout + rows[i]) * ohw + oh * pc.ow + ow));
                    int y0 = int(oh * pc.stride_h), x0 = int(ow * pc.stride_w);
                    for (uint j = 0; j < TN; ++j) {
                        int y = y0 + col_y[j], x = x0 + col_x[j];
                        bool inside = y >= 0 && x >= 0 && y < int(pc.h) && x < int(pc.w);
                        bv[j] = inside ? float(X_load(b * cin_all * hw + col_base[j] + uint(y) * pc.w + uint(x))) : 0.0;
                    }
                    for (uint i = 0; i < TM; ++i)
                        for (uint j = 0; j < TN; ++j) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
                }
    }
    for (uint i = 0; i < TM; ++i) {
        if (mb + i >= M) continue;
        for (uint j = 0; j < TN; ++j)
            if (nb + j < N) store(g, mb + i, nb + j, acc[i][j], split);
    }
}
