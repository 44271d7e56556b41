#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// LayerNorm over the last D elements of each of R rows (torch.nn.LayerNorm(D)), fp32 statistics:
//   MODE 0 forward:  mean_r = sum x / D; var_r = sum (x - mean_r)^2 / D (two passes); rstd_r = 1/sqrt(var_r + eps)
//                    y = gamma * (x - mean_r) * rstd_r + beta;  stats[2r] = mean_r, stats[2r+1] = rstd_r
//   MODE 1 dx:       xh = (x - mean_r) * rstd_r, g = dy * gamma
//                    dx = rstd_r * (g - sum(g)/D - xh * sum(g * xh)/D)          (one workgroup per row)
//   MODE 2 dparams:  dgamma[j] = sum_r dy[r,j] xh[r,j];  dbeta[j] = sum_r dy[r,j]  (one invocation per column)
// MODES 0 and 1 reduce a row in one of two ways: a workgroup per row with a shared-memory tree
// (GPUs: coalesced loads), or ROW_PER_INVOCATION, one invocation per row with no barrier (CPU
// devices, where each barrier is a switch between the workgroup's invocations: on lavapipe the
// tree took 15 us per row of 128).
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const bool ROW_PER_INVOCATION = false;
// MODE 2: add dgamma / dbeta to what the buffer holds (the compiler's fold of a gradient sum),
// rounded once.
layout(constant_id = 3) const bool ACC_DGAMMA = false;
layout(constant_id = 4) const bool ACC_DBETA = false;

layout(binding = 0) readonly buffer X_ { sfp X[]; };
layout(binding = 1) buffer Out_ { sfp OUT[]; };            // y, or dx
layout(binding = 2) readonly buffer DY_ { sfp DY[]; };
layout(binding = 3) readonly buffer Gamma_ { sfp GAMMA[]; };
layout(binding = 4) readonly buffer Beta_ { sfp BETA[]; };
layout(binding = 5) buffer Stats_ { float stats[]; };
layout(binding = 6) buffer DGamma_ { sfp DGAMMA[]; };
layout(binding = 7) buffer DBeta_ { sfp DBETA[]; };
layout(push_constant) uniform Push { uint rows, d; float eps; } pc;

SCALAR_LOAD(X)
SCALAR_LOAD(DY)
SCALAR_LOAD(GAMMA)
SCALAR_LOAD(BETA)
ELEMENT_STORE(OUT)
ELEMENT_STORE(DGAMMA)
ELEMENT_STORE(DBETA)
SCALAR_LOAD(DGAMMA)
SCALAR_LOAD(DBETA)

shared float red_a[gl_WorkGroupSize.x];
shared float red_b[gl_WorkGroupSize.x];

vec2 reduce2(float a, float b) {
    uint lid = gl_LocalInvocationID.x;
    barrier();  // the previous reduction's result may still be being read
    red_a[lid] = a;
    red_b[lid] = b;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            red_a[lid] += red_a[lid + stride];
            red_b[lid] += red_b[lid + stride];
        }
        barrier();
    }
    return vec2(red_a[0], red_b[0]);
}

void main() {
    if (MODE == 2u) {
        uint j = linear_invocation();
        if (j >= pc.d) return;
        float dg = 0.0, db = 0.0;
        for (uint r = 0u; r < pc.rows; ++r) {
            float dy = float(DY_load(r * pc.d + j));
            dg += dy * (float(X_load(r * pc.d + j)) - stats[2u * r]) * stats[2u * r + 1u];
            db += dy;
        }
        DGAMMA_store1(j, ACC_DGAMMA ? float(DGAMMA_load(j)) + dg : dg);
        DBETA_store1(j, ACC_DBETA ? float(DBETA_load(j)) + db : db);
        return;
    }
    float inv_d = 1.0 / float(pc.d);
    if (ROW_PER_INVOCATION) {
        uint r = linear_invocation(), base = r * pc.d;
        if (r >= pc.rows) return;
        if (MODE == 0u) {
            float s = 0.0;
            for (uint j = 0u; j < pc.d; ++j) s += float(X_load(base + j));
            float mean = s * inv_d, q = 0.0;
            for (uint j = 0u; j < pc.d; ++j) {
                float t = float(X_load(base + j)) - mean;
                q += t * t;
            }
            float rstd = 1.0 / sqrt(q * inv_d + pc.eps);
            stats[2u * r] = mean;
            stats[2u * r + 1u] = rstd;
            for (uint j = 0u; j < pc.d; ++j)
                OUT_store1(base + j, float(GAMMA_load(j)) * (float(X_load(base + j)) - mean) * rstd + float(BETA_load(j)));
            return;
        }
        float mean = stats[2u * r], rstd = stats[2u * r + 1u], sg = 0.0, sgx = 0.0;
        for (uint j = 0u; j < pc.d; ++j) {
            float g = float(DY_load(base + j)) * float(GAMMA_load(j));
            sg += g;
            sgx += g * (float(X_load(base + j)) - mean) * rstd;
        }
        for (uint j = 0u; j < pc.d; ++j) {
            float g = float(DY_load(base + j)) * float(GAMMA_load(j)), xh = (float(X_load(base + j)) - mean) * rstd;
            OUT_store1(base + j, rstd * (g - sg * inv_d - xh * sgx * inv_d));
        }
        return;
    }
    uint r = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;   // rows may spill into y
    if (r >= pc.rows) return;  // uniform over the workgroup: before any barrier
    uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x, base = r * pc.d;
    if (MODE == 0u) {
        float s = 0.0;
        for (uint j = lid; j < pc.d; j += wg) s += float(X_load(base + j));
        float mean = reduce2(s, 0.0).x * inv_d;
        float q = 0.0;
        for (uint j = lid; j < pc.d; j += wg) {
            float t = float(X_load(base + j)) - mean;
            q += t * t;
        }
        float rstd = 1.0 / sqrt(reduce2(q, 0.0).x * inv_d + pc.eps);
        if (lid == 0u) {
            stats[2u * r] = mean;
            stats[2u * r + 1u] = rstd;
        }
        for (uint j = lid; j < pc.d; j += wg)
            OUT_store1(base + j, float(GAMMA_load(j)) * (float(X_load(base + j)) - mean) * rstd + float(BETA_load(j)));
        return;
    }
    float mean = stats[2u * r], rstd = stats[2u * r + 1u];
    float sg = 0.0, sgx = 0.0;
    for (uint j = lid; j < pc.d; j += wg) {
        float g = float(DY_load(base + j)) * float(GAMMA_load(j));
        sg += g;
        sgx += g * (float(X_load(base + j)) - mean) * rstd;
    }
    vec2 sums = reduce2(sg, sgx);
    for (uint j = lid; j < pc.d; j += wg) {
        float g = float(DY_load(base + j)) * float(GAMMA_load(j)), xh = (float(X_load(base + j)) - mean) * rstd;
        OUT_store1(base + j, rstd * (g - sums.x * inv_d - xh * sums.y * inv_d));
    }
}
