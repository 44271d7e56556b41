#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// One fused step over every parameter (the flat buffers), fp32 math, skipped entirely when the
// gradient held an inf or NaN this step (st.found_inf): then not one byte changes.
//   g = grad * inv_scale (+ wd * p for SGD/Adam's L2)
//   SGD:   buf = momentum * buf + (1 - dampening) * g  (buf = g on the first step)
//          g = nesterov ? g + momentum * buf : buf (with momentum);  p -= lr * g
//   Adam:  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//          p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW: p *= 1 - lr * wd first, no L2 term (PyTorch's torch.optim.AdamW order)
//   CLIP:  g *= min(1, max_norm / (||g||_2 + 1e-6)) first, ||g|| over every unscaled gradient
//          (torch.nn.utils.clip_grad_norm_); norm_sq holds the scaled gradients' sum of squares
//   master = p;  work = rne_fp16(p) (or p in fp32 mode)
// An element whose new p, m or v would be inf or NaN -- or whose p would round to inf in an fp16
// working copy -- keeps its old values and sets FAULT_WEIGHTS: a diverging run never writes
// garbage into the weights, and the host stops it.
// lr follows the schedule at st.step; t = st.optimizer_step + 1.
#define TRAIN_STATE_BINDING 5
#include "train_state.glsl"

layout(constant_id = 1) const uint ALGO = 2;           // 0 SGD, 1 Adam, 2 AdamW
layout(constant_id = 2) const bool GRAD_F32 = false;   // fp32 gradients and working copy
layout(constant_id = 3) const bool NESTEROV = false;
layout(constant_id = 4) const uint SCHEDULE = 0;       // 0 constant, 1 step, 2 cosine
layout(constant_id = 5) const bool CLIP = false;

layout(binding = 0) readonly buffer G_ { uint grad_bits[]; };   // fp16 pairs, or fp32 bits
layout(binding = 1) buffer Master_ { float master[]; };
layout(binding = 2) buffer M_ { float moment1[]; };              // SGD: momentum buffer
layout(binding = 3) buffer V_ { float moment2[]; };
layout(binding = 4) buffer Work_ { uint work_bits[]; };          // fp16 pairs, or fp32 bits
layout(binding = 6) readonly buffer NormSq_ { float norm_sq[]; }; // CLIP: sum of squared (scaled) gradients
layout(push_constant) uniform Push {
    uint n;                 // parameters (even; padding entries hold zeros)
    float lr, beta1, beta2, eps, weight_decay, momentum, dampening;
    uint warmup_steps;      // linear warmup from 0 over these steps, then the schedule
    uint step_size;         // step: decay by gamma every step_size steps; cosine: total steps
    float gamma;            // step decay factor; cosine: final lr fraction
    float max_norm;         // CLIP
} pc;

float learning_rate() {
    uint s = st.step;
    float lr = pc.lr;
    if (SCHEDULE == 1u) lr *= pow(pc.gamma, float(s / max(pc.step_size, 1u)));
    if (SCHEDULE == 2u) {
        float progress = min(float(s) / float(max(pc.step_size, 1u)), 1.0);
        lr *= pc.gamma + (1.0 - pc.gamma) * 0.5 * (1.0 + cos(3.14159265358979 * progress));
    }
    if (s < pc.warmup_steps) lr *= float(s + 1u) / float(pc.warmup_steps);
    return lr;
}

bool finite(float x) { return (floatBitsToUint(x) & 0x7f800000u) != 0x7f800000u; }

// The new weight, or the old one when the update is refused (see above).
float update(uint i, float g, float lr, float t) {
    float p = master[i];
    float m = 0.0, v = 0.0;
    bool with_m = ALGO != 0u || pc.momentum != 0.0, with_v = ALGO != 0u;
    if (ALGO == 0u) {
        g += pc.weight_decay * p;
        if (pc.momentum != 0.0) {
            m = st.optimizer_step == 0u ? g : pc.momentum * moment1[i] + (1.0 - pc.dampening) * g;
            g = NESTEROV ? g + pc.momentum * m : m;
        }
        p -= lr * g;
    } else {
        if (ALGO == 2u) p *= 1.0 - lr * pc.weight_decay;
        else g += pc.weight_decay * p;
        m = pc.beta1 * moment1[i] + (1.0 - pc.beta1) * g;
        v = pc.beta2 * moment2[i] + (1.0 - pc.beta2) * g * g;
        float bc1 = 1.0 - pow(pc.beta1, t), bc2 = 1.0 - pow(pc.beta2, t);
        float denom = sqrt(v) / sqrt(bc2) + pc.eps;
        p -= (lr / bc1) * (m / denom);
    }
    bool fits = finite(p) && finite(m) && finite(v) &&
                (GRAD_F32 || (f32_bits_to_f16_rne(floatBitsToUint(p)) & 0x7c00u) != 0x7c00u);
    if (!fits) {
        atomicOr(st.faults, FAULT_WEIGHTS);
        return master[i];
    }
    if (with_m) moment1[i] = m;
    if (with_v) moment2[i] = v;
    master[i] = p;
    return p;
}

void main() {
    if (st.found_inf != 0u) return;   // overflow: skip the step, change nothing
    uint q = linear_invocation();     // a pair of parameters
    if (2u * q >= pc.n) return;
    float lr = learning_rate();
    float t = float(st.optimizer_step + 1u);
    float inv = st.inv_scale;
    if (CLIP) inv *= min(1.0, pc.max_norm / (sqrt(norm_sq[0]) * st.inv_scale + 1e-6));
    if (GRAD_F32) {
        for (uint e = 0u; e < 2u; ++e) {
            uint i = 2u * q + e;
            float p = update(i, uintBitsToFloat(grad_bits[i]) * inv, lr, t);
            work_bits[i] = floatBitsToUint(p);
        }
    } else {
        uint gw = grad_bits[q];
        float p0 = update(2u * q, uintBitsToFloat(f16_bits_to_f32(gw & 0xffffu)) * inv, lr, t);
        float p1 = update(2u * q + 1u, uintBitsToFloat(f16_bits_to_f32(gw >> 16)) * inv, lr, t);
        work_bits[q] = f32_bits_to_f16_rne(floatBitsToUint(p0)) | (f32_bits_to_f16_rne(floatBitsToUint(p1)) << 16);
    }
}
