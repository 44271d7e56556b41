#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// MODE 0 im2col: col[b, (ci,kh,kw), (oh,ow)] = x[b, ci, oh*s-p+kh*d, ow*s-p+kw*d]   (0 in the padding)
// MODE 1 col2im: dx[b, ci, ih, iw] = sum over taps (kh,kw) and outputs (oh,ow) that read (ih,iw)
//                of dcol[b, (ci,kh,kw), (oh,ow)]   (dcol fp32, the sum in fp32; a gather: no atomics)
// They lower a convolution to GEMMs (src/kernels/conv.cpp) where gathers inside a GEMM are slow.
// The column matrix's element (b, k, p) lies at b * image_stride + k * row_stride + p, so one
// shader gives both layouts the lowering uses: per image [b, k, pitch] (row_stride a pitch
// rounded up to 4, image_stride k * pitch) and images side by side [k, b * oh * ow (+ pad)]
// (image_stride oh * ow). With a 1x1 kernel MODE 0 is a relayout of an NCHW tensor.
layout(constant_id = 1) const uint MODE = 0;

layout(binding = 0) readonly buffer Src_ { sfp SRC[]; };        // im2col: x
layout(binding = 1) readonly buffer Src32_ { float SRC32[]; };  // col2im: dcol
layout(binding = 2) buffer Dst_ { sfp DST[]; };                 // im2col: col; col2im: dx
layout(push_constant) uniform Push {
    uint batch, cin, h, w, kh, kw, oh, ow;
    uint stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint image_stride, row_stride;   // of the column matrix
} pc;

SCALAR_LOAD(SRC)
ELEMENT_STORE(DST)

// A 2-D grid: x over (image, pixel) pairs, output pixels (im2col) or image pixels (col2im), y
// over channels; each invocation handles every tap of its pixel. Few large workgroups matter on
// lavapipe, where each workgroup has a fixed cost: a grid over (pixel, k row, image) spent more
// time launching than copying. Where the device caps the grid, STRIDED invocations loop over the
// rest (a loop llvmpipe runs markedly slower, hence the constant).
layout(constant_id = 2) const bool STRIDED = false;
layout(constant_id = 3) const bool UNIT_STRIDE = false;   // stride 1: col2im needs no divisibility test
// The kernel's size, so that the loops over taps unroll (llvmpipe runs loops slowly).
layout(constant_id = 4) const uint KH = 3;
layout(constant_id = 5) const uint KW = 3;

// col[b, (ci, every tap), p] from x[b, ci, ...].
void im2col_pixel(uint b, uint ci, uint p) {
    int y0 = int((p / pc.ow) * pc.stride_h) - int(pc.pad_h);
    int x0 = int((p % pc.ow) * pc.stride_w) - int(pc.pad_w);
    uint src = (b * pc.cin + ci) * pc.h * pc.w;
    uint dst = b * pc.image_stride + ci * KH * KW * pc.row_stride + p;
    for (uint kh = 0; kh < KH; ++kh) {
        int y = y0 + int(kh * pc.dil_h);
        bool row_in = y >= 0 && y < int(pc.h);
        for (uint kw = 0; kw < KW; ++kw) {
            int x = x0 + int(kw * pc.dil_w);
            float v = 0.0;
            if (row_in && x >= 0 && x < int(pc.w)) v = float(SRC_load(src + uint(y) * pc.w + uint(x)));
            DST_store1(dst, v);
            dst += pc.row_stride;
        }
    }
}

// dx[b, ci, p]: the sum over the taps and outputs that read image pixel p.
void col2im_pixel(uint b, uint ci, uint p) {
    int iy = int(p / pc.w) + int(pc.pad_h), ix = int(p % pc.w) + int(pc.pad_w);
    uint src = b * pc.image_stride + ci * KH * KW * pc.row_stride;
    float acc = 0.0;
    for (uint kh = 0; kh < KH; ++kh) {
        int ty = iy - int(kh * pc.dil_h);
        uint oy = UNIT_STRIDE ? uint(ty) : uint(ty) / pc.stride_h;
        bool row_in = ty >= 0 && oy < pc.oh && (UNIT_STRIDE || ty % int(pc.stride_h) == 0);
        for (uint kw = 0; kw < KW; ++kw, src += pc.row_stride) {
            int tx = ix - int(kw * pc.dil_w);
            uint ox = UNIT_STRIDE ? uint(tx) : uint(tx) / pc.stride_w;
            if (row_in && tx >= 0 && ox < pc.ow && (UNIT_STRIDE || tx % int(pc.stride_w) == 0))
                acc += SRC32[src + oy * pc.ow + ox];
        }
    }
    DST_store1((b * pc.cin + ci) * pc.h * pc.w + p, acc);
}

void pixel(uint i, uint ci, uint pixels) {
    uint b = i / pixels, p = i % pixels;
    if (MODE == 0u) im2col_pixel(b, ci, p);
    else col2im_pixel(b, ci, p);
}

void main() {
    uint pixels = MODE == 0u ? pc.oh * pc.ow : pc.h * pc.w, total = pc.batch * pixels;
    if (!STRIDED) {
        if (gl_GlobalInvocationID.x < total) pixel(gl_GlobalInvocationID.x, gl_WorkGroupID.y, pixels);
        return;
    }
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x)
        for (uint ci = gl_WorkGroupID.y; ci < pc.cin; ci += gl_NumWorkGroups.y) pixel(i, ci, pixels);
}
