#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// TO_F16: h[i] = rne_fp16(f[i])   else: f[i] = fp32(h[i])
// Bit-exact in integer arithmetic on every device (see common.glsl); fp16 data is stored packed
// two per uint, the layout every tier shares, so one kernel serves f16p, f16s and f16a tensors.
layout(constant_id = 1) const bool TO_F16 = true;

layout(binding = 0) buffer F32_ { uint f32_bits[]; };   // fp32 read as bits: no NaN canonicalisation
layout(binding = 1) buffer F16_ { uint f16_pairs[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main() {
    uint p = linear_invocation();
    uint i = 2u * p;
    if (i >= pc.n) return;
    bool has_second = i + 1u < pc.n;
    if (TO_F16) {
        uint lo = f32_bits_to_f16_rne(f32_bits[i]);
        if (has_second) {
            f16_pairs[p] = lo | (f32_bits_to_f16_rne(f32_bits[i + 1u]) << 16);
        } else {  // odd n: the high half may belong to a neighbouring view
            atomicAnd(f16_pairs[p], 0xffff0000u);
            atomicOr(f16_pairs[p], lo);
        }
    } else {
        uint pair = f16_pairs[p];
        f32_bits[i] = f16_bits_to_f32(pair & 0xffffu);
        if (has_second) f32_bits[i + 1u] = f16_bits_to_f32(pair >> 16);
    }
}
