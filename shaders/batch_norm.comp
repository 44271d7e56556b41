#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// BatchNorm2d over NCHW, one workgroup per channel c, every statistic in fp32 (N = batch * h * w):
//   MODE 0 train forward: mean = sum x / N; var = sum (x - mean)^2 / N (two passes); invstd = 1/sqrt(var + eps)
//                         stats: saved mean, invstd; running = (1-m) running + m (mean, var * N/(N-1))
//                         y = gamma * (x - mean) * invstd + beta
//   MODE 1 eval forward:  y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
//   MODE 2 backward:      xh = (x - mean) * invstd;  dgamma = sum dy xh;  dbeta = sum dy
//                         dx = gamma * invstd * (dy - dbeta / N - xh * dgamma / N)
// stats = four segments of `stride` floats (aligned, so the running statistics can be views):
// saved mean, saved invstd, running mean, running var (torch.nn.BatchNorm2d defaults: eps 1e-5,
// momentum 0.1).
layout(constant_id = 1) const uint MODE = 0;
// Backward: add dgamma / dbeta to what the buffer holds (the compiler's fold of a gradient sum,
// e.g. the second micro-batch's), rounded once.
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
layout(push_constant) uniform Push { uint batch, channels, spatial, stride; float eps, momentum; } pc;

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

// Workgroup sums of a and b (every invocation gets them).
vec2 reduce2(float a, float b) {
    uint lid = gl_LocalInvocationID.x;
    barrier();  // the shared arrays may still be read from the previous reduction
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
    uint c = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    uint n = pc.batch * pc.spatial;
    float inv_n = 1.0 / float(n);
    // element i of this channel: (b = i / spatial, s = i % spatial)
    #define INDEX(i) (((i) / pc.spatial * pc.channels + c) * pc.spatial + (i) % pc.spatial)
    float gamma = float(GAMMA_load(c)), beta = float(BETA_load(c));
    if (MODE == 1u) {
        float scale = gamma / sqrt(stats[3u * pc.stride + c] + pc.eps), mean = stats[2u * pc.stride + c];
        for (uint i = lid; i < n; i += wg) OUT_store1(INDEX(i), (float(X_load(INDEX(i))) - mean) * scale + beta);
        return;
    }
    if (MODE == 0u) {
        float s = 0.0;
        for (uint i = lid; i < n; i += wg) s += float(X_load(INDEX(i)));
        float mean = reduce2(s, 0.0).x * inv_n;
        float q = 0.0;
        for (uint i = lid; i < n; i += wg) {
            float d = float(X_load(INDEX(i))) - mean;
            q += d * d;
        }
        float var = reduce2(q, 0.0).x * inv_n, invstd = 1.0 / sqrt(var + pc.eps);
        if (lid == 0u) {
            stats[c] = mean;
            stats[pc.stride + c] = invstd;
            float unbiased = n > 1u ? var * float(n) / float(n - 1u) : var;
            stats[2u * pc.stride + c] = (1.0 - pc.momentum) * stats[2u * pc.stride + c] + pc.momentum * mean;
            stats[3u * pc.stride + c] = (1.0 - pc.momentum) * stats[3u * pc.stride + c] + pc.momentum * unbiased;
        }
        for (uint i = lid; i < n; i += wg) OUT_store1(INDEX(i), (float(X_load(INDEX(i))) - mean) * invstd * gamma + beta);
        return;
    }
    float mean = stats[c], invstd = stats[pc.stride + c];
    float sdy = 0.0, sdyxh = 0.0;
    for (uint i = lid; i < n; i += wg) {
        float dy = float(DY_load(INDEX(i))), xh = (float(X_load(INDEX(i))) - mean) * invstd;
        sdy += dy;
        sdyxh += dy * xh;
    }
    vec2 sums = reduce2(sdy, sdyxh);
    if (lid == 0u) {
        DGAMMA_store1(c, ACC_DGAMMA ? float(DGAMMA_load(c)) + sums.y : sums.y);
        DBETA_store1(c, ACC_DBETA ? float(DBETA_load(c)) + sums.x : sums.x);
    }
    float k = gamma * invstd;
    for (uint i = lid; i < n; i += wg) {
        float dy = float(DY_load(INDEX(i))), xh = (float(X_load(INDEX(i))) - mean) * invstd;
        OUT_store1(INDEX(i), k * (dy - sums.x * inv_n - xh * sums.y * inv_n));
    }
}
