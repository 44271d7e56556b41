#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Fused causal self-attention over a packed projection, without the T x T score matrix:
//   qkv [n, T, 3C] (C = H * HEAD_DIM; q, k, v side by side, heads within each, as GPT-2's c_attn
//   writes them), y [n, T, C] (heads side by side, ready for c_proj), lse [n, H, T] fp32.
// For query t of head h:  s_j = (q_t . k_j) / sqrt(HEAD_DIM) for j <= t,
//   y_t = sum_j softmax(s)_j v_j,  lse_t = log sum_j exp(s_j).
// MODE 0 forward: one invocation per (n, h, t); an online softmax over the keys (the running
//   maximum m rescales the sum l and the fp32 accumulator when it grows), so every exp is <= 1.
// The backward recomputes p_tj = exp(s_tj - lse_t) from the saved lse (no probabilities stored):
//   delta_t = dy_t . y_t,  ds_tj = p_tj (dy_t . v_j - delta_t)
//   MODE 1, per query t:  dq_t = sum_{j<=t} ds_tj k_j / sqrt(D); writes delta_t
//   MODE 2, per key j:    dk_j = sum_{t>=j} ds_tj q_t / sqrt(D),  dv_j = sum_{t>=j} p_tj dy_t
// Every sum is fp32 in every tier. Each invocation writes its own HEAD_DIM (even) elements as
// pairs, so the packed tier never shares a uint between invocations.
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint HEAD_DIM = 64;

layout(binding = 0) readonly buffer QKV_ { sfp QKV[]; };
layout(binding = 1) readonly buffer O_ { sfp O[]; };          // backward: the forward's y
layout(binding = 2) readonly buffer DY_ { sfp DY[]; };        // backward
layout(binding = 3) readonly buffer LseIn_ { float lse_in[]; };   // backward
layout(binding = 4) writeonly buffer Y_ { sfp Y[]; };         // forward
layout(binding = 5) writeonly buffer LseOut_ { float lse_out[]; };  // forward
layout(binding = 6) buffer Delta_ { float delta[]; };         // backward: MODE 1 writes, MODE 2 reads
layout(binding = 7) writeonly buffer DQKV_ { sfp DQKV[]; };   // backward
layout(push_constant) uniform Push { uint batch, heads, T; float scale; } pc;

SCALAR_LOAD(QKV)
SCALAR_LOAD(O)
SCALAR_LOAD(DY)
PAIR_STORE(Y)
PAIR_STORE(DQKV)

void load_row(uint base, out float r[HEAD_DIM]) {
    for (uint c = 0u; c < HEAD_DIM; ++c) r[c] = float(QKV_load(base + c));
}

float dot_qkv(float a[HEAD_DIM], uint base) {
    float s = 0.0;
    for (uint c = 0u; c < HEAD_DIM; ++c) s = fma(a[c], float(QKV_load(base + c)), s);
    return s;
}

float dot_dy(float a[HEAD_DIM], uint base) {
    float s = 0.0;
    for (uint c = 0u; c < HEAD_DIM; ++c) s = fma(a[c], float(DY_load(base + c)), s);
    return s;
}

void main() {
    uint i = linear_invocation();
    uint T = pc.T, C = pc.heads * HEAD_DIM;
    if (i >= pc.batch * pc.heads * T) return;
    uint t = i % T, bh = i / T, h = bh % pc.heads, b = bh / pc.heads;
    uint row0 = b * T;                  // the batch's first position
    uint q_off = h * HEAD_DIM, k_off = C + h * HEAD_DIM, v_off = 2u * C + h * HEAD_DIM;
    uint stride = 3u * C;               // between positions in qkv
    uint stat = bh * T;                 // lse and delta of (b, h, position 0)
    float acc[HEAD_DIM];
    for (uint c = 0u; c < HEAD_DIM; ++c) acc[c] = 0.0;

    if (MODE == 0u) {
        float q[HEAD_DIM];
        load_row((row0 + t) * stride + q_off, q);
        for (uint c = 0u; c < HEAD_DIM; ++c) q[c] *= pc.scale;
        float m = -1.0 / 0.0, l = 0.0;
        for (uint j = 0u; j <= t; ++j) {
            uint kv = (row0 + j) * stride;
            float s = dot_qkv(q, kv + k_off);
            if (s > m) {  // a new maximum: rescale what was summed under the old one
                float corr = exp(m - s);
                l *= corr;
                for (uint c = 0u; c < HEAD_DIM; ++c) acc[c] *= corr;
                m = s;
            }
            float p = exp(s - m);
            l += p;
            for (uint c = 0u; c < HEAD_DIM; ++c) acc[c] = fma(p, float(QKV_load(kv + v_off + c)), acc[c]);
        }
        float inv = 1.0 / l;
        uint dst = (row0 + t) * C + h * HEAD_DIM;  // even: C and HEAD_DIM are even
        uint n = pc.batch * T * C;
        for (uint c = 0u; c < HEAD_DIM; c += 2u) Y_store2((dst + c) / 2u, n, afp2(acc[c] * inv, acc[c + 1u] * inv));
        lse_out[stat + t] = m + log(l);
        return;
    }

    uint n = pc.batch * T * stride;
    if (MODE == 1u) {
        float q[HEAD_DIM], dy[HEAD_DIM];
        load_row((row0 + t) * stride + q_off, q);
        uint yo = (row0 + t) * C + h * HEAD_DIM;
        float d = 0.0;
        for (uint c = 0u; c < HEAD_DIM; ++c) {
            dy[c] = float(DY_load(yo + c));
            d = fma(dy[c], float(O_load(yo + c)), d);
        }
        delta[stat + t] = d;
        float lse = lse_in[stat + t];
        for (uint j = 0u; j <= t; ++j) {
            uint kv = (row0 + j) * stride;
            float p = exp(dot_qkv(q, kv + k_off) * pc.scale - lse);
            float ds = p * (dot_qkv(dy, kv + v_off) - d);
            for (uint c = 0u; c < HEAD_DIM; ++c) acc[c] = fma(ds, float(QKV_load(kv + k_off + c)), acc[c]);
        }
        uint dst = (row0 + t) * stride + q_off;
        for (uint c = 0u; c < HEAD_DIM; c += 2u)
            DQKV_store2((dst + c) / 2u, n, afp2(acc[c] * pc.scale, acc[c + 1u] * pc.scale));
        return;
    }

    // MODE 2: key j = t of this invocation.
    float k[HEAD_DIM], v[HEAD_DIM], dv[HEAD_DIM];
    load_row((row0 + t) * stride + k_off, k);
    load_row((row0 + t) * stride + v_off, v);
    for (uint c = 0u; c < HEAD_DIM; ++c) dv[c] = 0.0;
    for (uint r = t; r < T; ++r) {
        uint qo = (row0 + r) * stride + q_off, yo = (row0 + r) * C + h * HEAD_DIM;
        float p = exp(dot_qkv(k, qo) * pc.scale - lse_in[stat + r]);
        float ds = p * (dot_dy(v, yo) - delta[stat + r]);
        for (uint c = 0u; c < HEAD_DIM; ++c) {
            dv[c] = fma(p, float(DY_load(yo + c)), dv[c]);
            acc[c] = fma(ds, float(QKV_load(qo + c)), acc[c]);
        }
    }
    uint dst = (row0 + t) * stride;
    for (uint c = 0u; c < HEAD_DIM; c += 2u) {
        DQKV_store2((dst + k_off + c) / 2u, n, afp2(acc[c] * pc.scale, acc[c + 1u] * pc.scale));
        DQKV_store2((dst + v_off + c) / 2u, n, afp2(dv[c], dv[c + 1u]));
    }
}
