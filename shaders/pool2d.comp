#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// 2-D pooling over NCHW planes, one invocation per output element (forward) or input element
// (backward, a race-free gather: no atomics, no zeroing pass):
//   MODE 0 max forward:  y[o] = max over the window of x,  argmax[o] = flat index of the first max in the plane
//   MODE 1 max backward: dx[i] = sum of dy[o] over the windows o whose argmax is i
//   MODE 2 avg forward:  y[o] = sum over the window of x / (kh*kw)   (padding counts, as PyTorch's default)
//   MODE 3 avg backward: dx[i] = sum of dy[o] / (kh*kw) over the windows o containing i
// Windows that start in the padding take only in-image elements into the max; fp32 math.
layout(constant_id = 1) const uint MODE = 0;
// The window's size, so that the loops unroll (llvmpipe runs loops slowly), and whether windows
// tile the plane (stride == window, PyTorch's default): then an input lies in at most one window
// and the backward pass reads one output instead of searching.
layout(constant_id = 2) const uint KH = 2;
layout(constant_id = 3) const uint KW = 2;
layout(constant_id = 4) const bool TILED = false;

layout(binding = 0) readonly buffer Src_ { sfp SRC[]; };   // x (forward) or dy (backward)
layout(binding = 1) buffer Dst_ { sfp DST[]; };            // y (forward) or dx (backward)
layout(binding = 2) buffer Arg_ { uint ARGMAX[]; };        // max pooling's argmax per output
layout(push_constant) uniform Push {
    uint planes, h, w, oh, ow, kh, kw, stride_h, stride_w, pad_h, pad_w;
} pc;

SCALAR_LOAD(SRC)
ELEMENT_STORE(DST)

void main() {
    uint i = linear_invocation();
    bool forward = MODE == 0u || MODE == 2u;
    uint total = pc.planes * (forward ? pc.oh * pc.ow : pc.h * pc.w);
    if (i >= total) return;
    if (forward) {
        uint plane = i / (pc.oh * pc.ow), o = i % (pc.oh * pc.ow);
        int h0 = int((o / pc.ow) * pc.stride_h) - int(pc.pad_h), w0 = int((o % pc.ow) * pc.stride_w) - int(pc.pad_w);
        float best = -3.402823466e38, sum = 0.0;
        uint arg = 0u;
        for (uint dh = 0; dh < KH; ++dh)
            for (uint dw = 0; dw < KW; ++dw) {
                int ih = h0 + int(dh), iw = w0 + int(dw);
                if (ih < 0 || iw < 0 || ih >= int(pc.h) || iw >= int(pc.w)) continue;
                uint at = uint(ih) * pc.w + uint(iw);
                float v = float(SRC_load(plane * pc.h * pc.w + at));
                sum += v;
                if (v > best) {  // strictly greater: the first maximum wins, as in PyTorch
                    best = v;
                    arg = at;
                }
            }
        if (MODE == 0u) {
            DST_store1(i, best);
            ARGMAX[i] = arg;
        } else {
            DST_store1(i, sum / float(KH * KW));
        }
        return;
    }
    // Backward: the outputs whose window contains input (ih, iw).
    uint plane = i / (pc.h * pc.w), at = i % (pc.h * pc.w);
    int ih = int(at / pc.w) + int(pc.pad_h), iw = int(at % pc.w) + int(pc.pad_w);
    if (TILED) {
        uint oh = uint(ih) / KH, ow = uint(iw) / KW;
        float g = 0.0;
        if (oh < pc.oh && ow < pc.ow) {
            uint o = plane * pc.oh * pc.ow + oh * pc.ow + ow;
            if (MODE == 3u) g = float(SRC_load(o)) / float(KH * KW);
            else if (ARGMAX[o] == at) g = float(SRC_load(o));
        }
        DST_store1(i, g);
        return;
    }
    int oh_lo = max(0, (ih - int(KH) + int(pc.stride_h)) / int(pc.stride_h));
    int ow_lo = max(0, (iw - int(KW) + int(pc.stride_w)) / int(pc.stride_w));
    int oh_hi = min(int(pc.oh) - 1, ih / int(pc.stride_h)), ow_hi = min(int(pc.ow) - 1, iw / int(pc.stride_w));
    float g = 0.0;
    for (int oh = oh_lo; oh <= oh_hi; ++oh)
        for (int ow = ow_lo; ow <= ow_hi; ++ow) {
            if (ih - oh * int(pc.stride_h) >= int(KH) || iw - ow * int(pc.stride_w) >= int(KW)) continue;
            uint o = plane * pc.oh * pc.ow + uint(oh) * pc.ow + uint(ow);
            if (MODE == 1u) {
                if (ARGMAX[o] == at) g += float(SRC_load(o));
            } else {
                g += float(SRC_load(o)) / float(KH * KW);
            }
        }
    DST_store1(i, g);
}
