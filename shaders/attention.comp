#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Fused causal self-attention over a packed projection, without the T x T score matrix:
//   qkv [n, T, 3C] (C = H * HEAD_DIM; q, k, v side by side, heads within each, as GPT-2's c_attn
//   writes them), y [n, T, C] (heads side by side, ready for c_proj), lse [n, H, T] fp32.
// For query t of head h:  s_j = (q_t . k_j) / sqrt(HEAD_DIM) for j <= t,
//   y_t = sum_j softmax(s)_j v_j,  lse_t = log sum_j exp(s_j).
// MODE 0 forward: one invocation per query; an online softmax over the keys (the running maximum
//   m rescales the sum l and the fp32 accumulator when it grows), so every exp is <= 1.
// The backward recomputes p_tj = exp(s_tj - lse_t) from the saved lse (no probabilities stored):
//   delta_t = dy_t . y_t,  ds_tj = p_tj (dy_t . v_j - delta_t)
//   MODE 1, per query t:  dq_t = sum_{j<=t} ds_tj k_j / sqrt(D); writes delta_t
//   MODE 2, per key j:    dk_j = sum_{t>=j} ds_tj q_t / sqrt(D),  dv_j = sum_{t>=j} p_tj dy_t
// A workgroup covers consecutive positions of one (batch, head) and walks the other side (keys,
// or queries in MODE 2). STAGED (GPUs): in tiles of TILE rows staged in shared memory as fp32, so
// each row is read from memory once per workgroup instead of once per invocation. Not STAGED (CPU
// devices, where shared memory and barriers cost more than they save: on lavapipe the staged
// form took 1.6x as long): straight from memory, no barrier, four elements per load where the
// head size allows (VEC4). Every sum is fp32 in every tier. Each invocation writes its own HEAD_DIM (even) elements as pairs, so the packed
// tier never shares a uint between invocations.
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint HEAD_DIM = 64;
layout(constant_id = 3) const uint TILE = 32;  // rows per staged tile (the host fits it to shared memory)
layout(constant_id = 4) const bool STAGED = true;
layout(constant_id = 5) const bool VEC4 = false;  // not STAGED and HEAD_DIM % 4 == 0: rows as vec4 loads

layout(binding = 0) readonly buffer QKV_ { sfp QKV[]; };
layout(binding = 1) buffer Y_ { sfp Y[]; };                   // forward: written; backward: read
layout(binding = 2) readonly buffer DY_ { sfp DY[]; };        // backward
layout(binding = 3) buffer Lse_ { float lse[]; };             // forward: written; backward: read
layout(binding = 4) buffer Delta_ { float delta[]; };         // backward: MODE 1 writes, MODE 2 reads
layout(binding = 5) writeonly buffer DQKV_ { sfp DQKV[]; };   // backward
layout(binding = 6) readonly buffer QKV4_ { sfp4 QKV4[]; };   // qkv again, four elements at a time
layout(binding = 7) readonly buffer DY4_ { sfp4 DY4[]; };     // dy again (backward)
// groups_per_head: workgroups along T for one (batch, head).
layout(push_constant) uniform Push { uint batch, heads, T, groups_per_head; float scale; } pc;

SCALAR_LOAD(QKV)
SCALAR_LOAD(Y)
SCALAR_LOAD(DY)
VEC4_LOAD(QKV4)
VEC4_LOAD(DY4)
PAIR_STORE(Y)
PAIR_STORE(DQKV)

// The staged tile: keys and values (MODES 0, 1), or queries and dy with their lse and delta (MODE 2).
shared float tile_a[TILE * HEAD_DIM];
shared float tile_b[TILE * HEAD_DIM];
shared float tile_s[TILE];
shared float tile_d[TILE];

// The current tile: rows [g_first, g_first + TILE) of (b, h), whose first position is row g_row0
// of qkv; a at column offset g_a_off of qkv, b at g_b_off of qkv (MODES 0, 1) or of dy (MODE 2).
uint g_row0, g_first, g_a_off, g_b_off, g_stat;

void stage(uint row0, uint first, uint a_off, uint b_off, uint stat) {
    g_row0 = row0, g_first = first, g_a_off = a_off, g_b_off = b_off, g_stat = stat;
    if (!STAGED) return;
    uint stride = 3u * pc.heads * HEAD_DIM, C = pc.heads * HEAD_DIM;
    barrier();  // the previous tile is no longer read
    for (uint e = gl_LocalInvocationID.x; e < TILE * HEAD_DIM; e += gl_WorkGroupSize.x) {
        uint r = first + e / HEAD_DIM, c = e % HEAD_DIM;
        bool live = r < pc.T;
        tile_a[e] = live ? float(QKV_load((row0 + r) * stride + a_off + c)) : 0.0;
        if (MODE == 2u) tile_b[e] = live ? float(DY_load((row0 + r) * C + b_off + c)) : 0.0;
        else tile_b[e] = live ? float(QKV_load((row0 + r) * stride + b_off + c)) : 0.0;
    }
    if (MODE == 2u)
        for (uint r = gl_LocalInvocationID.x; r < TILE; r += gl_WorkGroupSize.x) {
            bool live = first + r < pc.T;
            tile_s[r] = live ? lse[stat + first + r] : 0.0;
            tile_d[r] = live ? delta[stat + first + r] : 0.0;
        }
    barrier();
}

// Row r of the current tile: where it starts (a_row, b_row: in the tile, or in memory when not
// staged), then element c of it (a_at, b_at).
uint a_row(uint r) { return STAGED ? r * HEAD_DIM : (g_row0 + g_first + r) * 3u * pc.heads * HEAD_DIM + g_a_off; }
uint b_row(uint r) {
    if (STAGED) return r * HEAD_DIM;
    return (g_row0 + g_first + r) * (MODE == 2u ? 1u : 3u) * pc.heads * HEAD_DIM + g_b_off;
}
float a_at(uint row, uint c) { return STAGED ? tile_a[row + c] : float(QKV_load(row + c)); }
float b_at(uint row, uint c) {
    if (STAGED) return tile_b[row + c];
    return MODE == 2u ? float(DY_load(row + c)) : float(QKV_load(row + c));
}

// Elements c .. c + 3 (c a multiple of 4) of a row, from memory: VEC4 only.
vec4 a4_at(uint row, uint c) { return vec4(QKV4_load4((row + c) >> 2)); }
vec4 b4_at(uint row, uint c) { return MODE == 2u ? vec4(DY4_load4((row + c) >> 2)) : vec4(QKV4_load4((row + c) >> 2)); }
vec4 x4(float x[HEAD_DIM], uint c) { return vec4(x[c], x[c + 1u], x[c + 2u], x[c + 3u]); }

// acc[c .. c + HEAD_DIM) += p * row (of a, or of b).
void axpy_a(inout float acc[HEAD_DIM], float p, uint row) {
    if (VEC4) {
        for (uint c = 0u; c < HEAD_DIM; c += 4u) {
            vec4 r = a4_at(row, c);
            acc[c] = fma(p, r.x, acc[c]), acc[c + 1u] = fma(p, r.y, acc[c + 1u]);
            acc[c + 2u] = fma(p, r.z, acc[c + 2u]), acc[c + 3u] = fma(p, r.w, acc[c + 3u]);
        }
    } else {
        for (uint c = 0u; c < HEAD_DIM; ++c) acc[c] = fma(p, a_at(row, c), acc[c]);
    }
}

void axpy_b(inout float acc[HEAD_DIM], float p, uint row) {
    if (VEC4) {
        for (uint c = 0u; c < HEAD_DIM; c += 4u) {
            vec4 r = b4_at(row, c);
            acc[c] = fma(p, r.x, acc[c]), acc[c + 1u] = fma(p, r.y, acc[c + 1u]);
            acc[c + 2u] = fma(p, r.z, acc[c + 2u]), acc[c + 3u] = fma(p, r.w, acc[c + 3u]);
        }
    } else {
        for (uint c = 0u; c < HEAD_DIM; ++c) acc[c] = fma(p, b_at(row, c), acc[c]);
    }
}

float lse_at(uint r) { return STAGED ? tile_s[r] : lse[g_stat + g_first + r]; }
float delta_at(uint r) { return STAGED ? tile_d[r] : delta[g_stat + g_first + r]; }

float dot_a(float x[HEAD_DIM], uint row) {
    float s = 0.0;
    if (VEC4)
        for (uint c = 0u; c < HEAD_DIM; c += 4u) s += dot(x4(x, c), a4_at(row, c));
    else
        for (uint c = 0u; c < HEAD_DIM; ++c) s = fma(x[c], a_at(row, c), s);
    return s;
}

float dot_b(float x[HEAD_DIM], uint row) {
    float s = 0.0;
    if (VEC4)
        for (uint c = 0u; c < HEAD_DIM; c += 4u) s += dot(x4(x, c), b4_at(row, c));
    else
        for (uint c = 0u; c < HEAD_DIM; ++c) s = fma(x[c], b_at(row, c), s);
    return s;
}

void main() {
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint bh = group / pc.groups_per_head;
    if (bh >= pc.batch * pc.heads) return;  // uniform over the workgroup: before any barrier
    uint T = pc.T, C = pc.heads * HEAD_DIM, stride = 3u * C;
    uint h = bh % pc.heads, b = bh / pc.heads;
    uint first_t = (group % pc.groups_per_head) * gl_WorkGroupSize.x;  // the workgroup's first position
    uint t = first_t + gl_LocalInvocationID.x;
    bool live = t < T;                  // dead invocations still stage tiles and meet the barriers
    if (!STAGED && !live) return;       // (not staged: no barrier, and nothing of theirs to read)
    uint last_t = min(first_t + gl_WorkGroupSize.x, T) - 1u;
    uint step = STAGED ? TILE : T;      // not staged: one "tile" of every row
    uint row0 = b * T;                  // the batch's first position
    uint q_off = h * HEAD_DIM, k_off = C + h * HEAD_DIM, v_off = 2u * C + h * HEAD_DIM;
    uint stat = bh * T;                 // lse and delta of (b, h, position 0)
    uint tr = min(t, T - 1u);           // a valid row to read for dead invocations
    float acc[HEAD_DIM];
    for (uint c = 0u; c < HEAD_DIM; ++c) acc[c] = 0.0;

    if (MODE == 0u) {
        float q[HEAD_DIM];
        for (uint c = 0u; c < HEAD_DIM; ++c) q[c] = float(QKV_load((row0 + tr) * stride + q_off + c)) * pc.scale;
        float m = -1.0 / 0.0, l = 0.0;
        for (uint j0 = 0u; j0 <= last_t; j0 += step) {
            stage(row0, j0, k_off, v_off, stat);
            uint stop = min(step, t + 1u - min(j0, t + 1u));  // keys j0 .. min(t, j0 + step - 1)
            for (uint r = 0u; r < stop; ++r) {
                uint ra = a_row(r), rb = b_row(r);
                float s = dot_a(q, ra);
                if (s > m) {  // a new maximum: rescale what was summed under the old one
                    float corr = exp(m - s);
                    l *= corr;
                    for (uint c = 0u; c < HEAD_DIM; ++c) acc[c] *= corr;
                    m = s;
                }
                float p = exp(s - m);
                l += p;
                axpy_b(acc, p, rb);
            }
        }
        if (!live) return;
        float inv = 1.0 / l;
        uint dst = (row0 + t) * C + h * HEAD_DIM;  // even: C and HEAD_DIM are even
        uint n = pc.batch * T * C;
        for (uint c = 0u; c < HEAD_DIM; c += 2u) Y_store2((dst + c) / 2u, n, afp2(acc[c] * inv, acc[c + 1u] * inv));
        lse[stat + t] = m + log(l);
        return;
    }

    uint n = pc.batch * T * stride;
    if (MODE == 1u) {
        float q[HEAD_DIM], dy[HEAD_DIM];
        uint yo = (row0 + tr) * C + h * HEAD_DIM;
        float d = 0.0;
        for (uint c = 0u; c < HEAD_DIM; ++c) {
            q[c] = float(QKV_load((row0 + tr) * stride + q_off + c));
            dy[c] = float(DY_load(yo + c));
            d = fma(dy[c], float(Y_load(yo + c)), d);
        }
        float lse = lse[stat + tr];
        for (uint j0 = 0u; j0 <= last_t; j0 += step) {
            stage(row0, j0, k_off, v_off, stat);
            uint stop = min(step, t + 1u - min(j0, t + 1u));
            for (uint r = 0u; r < stop; ++r) {
                uint ra = a_row(r), rb = b_row(r);
                float p = exp(dot_a(q, ra) * pc.scale - lse);
                float ds = p * (dot_b(dy, rb) - d);
                axpy_a(acc, ds, ra);
            }
        }
        if (!live) return;
        delta[stat + t] = d;
        uint dst = (row0 + t) * stride + q_off;
        for (uint c = 0u; c < HEAD_DIM; c += 2u)
            DQKV_store2((dst + c) / 2u, n, afp2(acc[c] * pc.scale, acc[c + 1u] * pc.scale));
        return;
    }

    // MODE 2: this invocation's key j = t, over queries t' >= j in tiles from the workgroup's first.
    float k[HEAD_DIM], v[HEAD_DIM], dv[HEAD_DIM];
    for (uint c = 0u; c < HEAD_DIM; ++c) {
        k[c] = float(QKV_load((row0 + tr) * stride + k_off + c));
        v[c] = float(QKV_load((row0 + tr) * stride + v_off + c));
        dv[c] = 0.0;
    }
    for (uint i0 = first_t; i0 < T; i0 += step) {
        stage(row0, i0, q_off, h * HEAD_DIM, stat);
        for (uint r = (t > i0 ? t - i0 : 0u); r < step && i0 + r < T; ++r) {
            uint ra = a_row(r), rb = b_row(r);
            float p = exp(dot_a(k, ra) * pc.scale - lse_at(r));
            float ds = p * (dot_b(v, rb) - delta_at(r));
            axpy_b(dv, p, rb);
            axpy_a(acc, ds, ra);
        }
    }
    if (!live) return;
    uint dst = (row0 + t) * stride;
    for (uint c = 0u; c < HEAD_DIM; c += 2u) {
        DQKV_store2((dst + k_off + c) / 2u, n, afp2(acc[c] * pc.scale, acc[c + 1u] * pc.scale));
        DQKV_store2((dst + v_off + c) / 2u, n, afp2(dv[c], dv[c + 1u]));
    }
}
