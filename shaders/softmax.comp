#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Softmax and log-softmax over the last axis of x [rows, cols], and their gradients, in fp32:
//   MODE 0 softmax:          y_j = exp(x_j - m) / s,  m = max_j x_j,  s = sum_j exp(x_j - m)
//   MODE 1 log-softmax:      y_j = x_j - m - log(s)
//   MODE 2 softmax grad:     dx_j = y_j (dy_j - sum_k dy_k y_k)          (from y, the output)
//   MODE 3 log-softmax grad: dx_j = dy_j - exp(y_j) sum_k dy_k
// Subtracting the row's maximum keeps every exp in (0, 1]: finite for any finite logits, fp16's
// +-65504 included. CAUSAL (softmax only; attention scores [.., T, T], rows_per = T): column j of
// row r takes part only when j <= r mod T; the others are -inf logits, so their probability is 0
// and so is their gradient. One invocation per row (attention rows are short); element stores
// go through ELEMENT_STORE, so rows of odd length may share a packed pair.
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const bool CAUSAL = false;

layout(binding = 0) readonly buffer X_ { sfp X[]; };   // x (forward) or y (backward)
layout(binding = 1) readonly buffer DY_ { sfp DY[]; }; // dy (backward; the forward binds x here, unused)
layout(binding = 2) buffer Out_ { sfp OUT[]; };        // y or dx
layout(push_constant) uniform Push { uint rows, cols, rows_per; } pc;

SCALAR_LOAD(X)
SCALAR_LOAD(DY)
ELEMENT_STORE(OUT)

void main() {
    uint r = linear_invocation();
    if (r >= pc.rows) return;
    uint base = r * pc.cols;
    uint live = CAUSAL ? min(r % pc.rows_per + 1u, pc.cols) : pc.cols;  // columns [0, live) take part
    if (MODE <= 1u) {
        float m = float(X_load(base));
        for (uint j = 1u; j < live; ++j) m = max(m, float(X_load(base + j)));
        float s = 0.0;
        for (uint j = 0u; j < live; ++j) s += exp(float(X_load(base + j)) - m);
        float inv = 1.0 / s, log_s = log(s);
        for (uint j = 0u; j < pc.cols; ++j) {
            float z = float(X_load(base + j)) - m;
            float y = MODE == 0u ? (j < live ? exp(z) * inv : 0.0) : z - log_s;
            OUT_store1(base + j, y);
        }
        return;
    }
    float dot = 0.0;
    for (uint j = 0u; j < live; ++j) {
        float dy = float(DY_load(base + j));
        dot += MODE == 2u ? dy * float(X_load(base + j)) : dy;
    }
    for (uint j = 0u; j < pc.cols; ++j) {
        float y = float(X_load(base + j)), dy = float(DY_load(base + j));
        float dx = MODE == 2u ? (j < live ? y * (dy - dot) : 0.0) : dy - exp(y) * dot;
        OUT_store1(base + j, dx);
    }
}
