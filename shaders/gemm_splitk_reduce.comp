#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// C[b,m,n] = epilogue( sum_s W[s,b,m,n] ): the fp32 partial sums of split-K GEMM, added in fp32
// in split order (deterministic), then alpha, beta*C, bias and relu as in gemm_common.glsl.
layout(constant_id = 6) const bool TRANS_A = false;   // unused; gemm_common.glsl names them
layout(constant_id = 7) const bool TRANS_B = false;
layout(constant_id = 8) const bool OUT_F32 = false;
layout(constant_id = 9) const uint BIAS = 0;
layout(constant_id = 10) const bool RELU = false;
const bool PARTIAL = false;

layout(binding = 0) readonly buffer A_ { sfp A[]; };
layout(binding = 1) readonly buffer B_ { sfp B[]; };
layout(binding = 2) buffer C_ { sfp C[]; };
layout(binding = 3) buffer C32_ { float C32[]; };
layout(binding = 4) readonly buffer Bias_ { sfp BIAS_BUF[]; };
layout(binding = 5) readonly buffer W_ { float W[]; };

#include "gemm_common.glsl"

void main() {
    uint i = linear_invocation();
    uint mn = pc.M * pc.N;
    if (i >= pc.batch * mn) return;
    uint b = i / mn, m = (i % mn) / pc.N, n = i % pc.N;
    float acc = 0.0;
    for (uint s = 0; s < pc.splits; ++s) acc += W[s * pc.batch * mn + i];
    gemm_epilogue(b, m, n, acc);
}
