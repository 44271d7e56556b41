#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// MODE 0 im2col: col[b, (ci,kh,kw), (oh,ow)] = x[b, ci, oh*s-p+kh*d, ow*s-p+kw*d]   (0 in the padding)
// MODE 1 col2im: dx[b, ci, ih, iw] = sum over taps (kh,kw) and outputs (oh,ow) that read (ih,iw)
//                of dcol[b, (ci,kh,kw), (oh,ow)]   (dcol fp32, the sum in fp32; a gather: no atomics)
// They lower a convolution to GEMMs (src/ops/conv.cpp) where gathers inside a GEMM are slow.
layout(constant_id = 1) const uint MODE = 0;

layout(binding = 0) readonly buffer Src_ { sfp SRC[]; };        // im2col: x
layout(binding = 1) readonly buffer Src32_ { float SRC32[]; };  // col2im: dcol
layout(binding = 2) buffer Dst_ { sfp DST[]; };                 // im2col: col; col2im: dx
layout(push_constant) uniform Push {
    uint batch, cin, h, w, kh, kw, oh, ow;
    uint stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
} pc;

SCALAR_LOAD(SRC)
ELEMENT_STORE(DST)

// A 3-D grid: x over output pixels (im2col) or image pixels (col2im), y over the k = (ci,kh,kw)
// rows (im2col) or channels (col2im), z over images. Where the device caps the grid, STRIDED
// workgroups loop over the rest (a loop llvmpipe runs markedly slower, hence the constant).
layout(constant_id = 2) const bool STRIDED = false;

void im2col_one(uint b, uint k, uint p, int y0, int x0) {
    uint taps = pc.kh * pc.kw, ci = k / taps, t = k % taps;
    int y = y0 + int((t / pc.kw) * pc.dil_h), x = x0 + int((t % pc.kw) * pc.dil_w);
    float v = 0.0;
    if (y >= 0 && x >= 0 && y < int(pc.h) && x < int(pc.w))
        v = float(SRC_load((b * pc.cin + ci) * pc.h * pc.w + uint(y) * pc.w + uint(x)));
    DST_store1((b * pc.cin * taps + k) * pc.oh * pc.ow + p, v);
}

void col2im_one(uint b, uint ci, uint p, int iy, int ix) {
    uint taps = pc.kh * pc.kw, spatial = pc.oh * pc.ow;
    float acc = 0.0;
    for (uint kh = 0; kh < pc.kh; ++kh)
        for (uint kw = 0; kw < pc.kw; ++kw) {
            int ty = iy - int(kh * pc.dil_h), tx = ix - int(kw * pc.dil_w);
            if (ty < 0 || tx < 0 || ty % int(pc.stride_h) != 0 || tx % int(pc.stride_w) != 0) continue;
            uint oy = uint(ty) / pc.stride_h, ox = uint(tx) / pc.stride_w;
            if (oy >= pc.oh || ox >= pc.ow) continue;
            uint k = (ci * pc.kh + kh) * pc.kw + kw;
            acc += SRC32[(b * pc.cin * taps + k) * spatial + oy * pc.ow + ox];
        }
    DST_store1((b * pc.cin + ci) * pc.h * pc.w + p, acc);
}

void main() {
    uint p = gl_GlobalInvocationID.x;
    uint rows = MODE == 0u ? pc.cin * pc.kh * pc.kw : pc.cin;
    if (p >= (MODE == 0u ? pc.oh * pc.ow : pc.h * pc.w)) return;
    int y0, x0;
    if (MODE == 0u) {
        y0 = int((p / pc.ow) * pc.stride_h) - int(pc.pad_h);
        x0 = int((p % pc.ow) * pc.stride_w) - int(pc.pad_w);
    } else {
        y0 = int(p / pc.w) + int(pc.pad_h);
        x0 = int(p % pc.w) + int(pc.pad_w);
    }
    if (!STRIDED) {
        if (MODE == 0u) im2col_one(gl_WorkGroupID.z, gl_WorkGroupID.y, p, y0, x0);
        else col2im_one(gl_WorkGroupID.z, gl_WorkGroupID.y, p, y0, x0);
        return;
    }
    for (uint b = gl_WorkGroupID.z; b < pc.batch; b += gl_NumWorkGroups.z)
        for (uint r = gl_WorkGroupID.y; r < rows; r += gl_NumWorkGroups.y) {
            if (MODE == 0u) im2col_one(b, r, p, y0, x0);
            else col2im_one(b, r, p, y0, x0);
        }
}
