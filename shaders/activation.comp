#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Activations, forward and backward, FUNC in:
//   0 GELU    f = x * Phi(x) = 0.5*x*(1 + erf(x/sqrt2))   f' = Phi(x) + x*phi(x)
//   1 tanh    f = tanh(x)                                  f' = 1 - tanh^2 = sech^2(x)
//   2 sigmoid f = 1/(1 + exp(-x))                          f' = f*(1 - f)
//   3 GELU, tanh form (GPT-2): f = 0.5*x*(1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi)*(x + 0.044715x^3)
//             f' = sigmoid(2u) + 2x * sigmoid'(2u) * u'      (sigmoid: no 1 + tanh cancellation below 0)
// Phi / phi: the standard normal distribution and density.
//
// The math is fp32 in every tier, f16a included. In fp16 each step would round to 11 bits, Vulkan
// lets an fp16 exp be off by 3 + 2|x| fp16 ulps, the erf polynomial would lose its small terms
// and exp(-x*x) would underflow past |x| = 4.1 (fp16's smallest subnormal is 6e-8): GELU, tanh and
// sigmoid would come out several fp16 ulps wrong, and their derivatives worse (f' = 1 - f^2 at
// fp16 leaves nothing once f rounds to 1). These kernels are bound by memory, not arithmetic, so
// fp32 math costs nothing measurable; the result is rounded once to the storage type.
//
// Every formula stays finite for any finite input (|x| up to fp16's 65504 and beyond): exp only
// ever sees -|x| or -x*x, which underflow to 0 instead of overflowing, and each derivative is
// written so nothing cancels as f saturates (sech^2 from exp(-2|x|), not 1 - tanh^2).
layout(constant_id = 1) const uint FUNC = 0;
layout(constant_id = 2) const bool BACKWARD = false;

layout(binding = 0) readonly buffer A_ { sfp A[]; };   // forward: x; backward: dy
layout(binding = 1) readonly buffer X_ { sfp X[]; };   // backward: x (forward binds x here too, unused)
layout(binding = 2) writeonly buffer Y_ { sfp Y[]; };  // forward: y; backward: dx
layout(push_constant) uniform Push { uint n; } pc;

PAIR_LOAD(A)
PAIR_LOAD(X)
PAIR_STORE(Y)

// ---- erf / erfc in fp32 -------------------------------------------------------------------------
// GLSL has no erf. Two pieces, each fitted for this file by Chebyshev interpolation in long double
// (against std::erf / std::erfc), then rounded to fp32:
//   |z| < 1:      erf(z)  = z + z * R(z^2),                R: degree 6
//   1 <= z < 10:  erfc(z) = exp(-z^2) * t * Q(4t - 5/3),   t = 2/(2+z) in (1/6, 2/3], Q: degree 8
//   z >= 10:      erfc(z) = 0        (erfc(10) = 2.1e-45, next to fp32's smallest subnormal 1.4e-45)
// erfc(z)*exp(z^2)/t is analytic and slowly varying in t, so Q keeps erfc's *relative* error small
// far into the tail, where 1 - erf would have cancelled to nothing.
// Measured max error over every fp32 z in [1e-6, 12], this code replayed on the CPU in fp32 (fused
// fma, std::exp) against std::erf / std::erfc in double:
//   |erf(z) - std::erf(z)| <= 8.4e-8 (at z = 1.03, where fp32's own spacing is 6e-8),
//   erf relative error (|z| < 1) <= 7.5e-8,  erfc relative error (1 <= z <= 4) <= 4.4e-7,
//   and so |Phi(x) - Phi_exact(x)| <= 6.2e-8 for every x.
// The approximation alone (exact arithmetic, these fp32 coefficients): 5.4e-9 absolute for |z| < 1,
// 4.1e-8 relative for erfc on [1, 10]; the rest is fp32 rounding and exp's error (a device's exp
// may be less accurate than std::exp: Vulkan allows 3 + 2|x| ulp).

const float ERF_R0 = 1.283791661e-01;   // 2/sqrt(pi) - 1
const float ERF_R1 = -3.761262596e-01;
const float ERF_R2 = 1.128359437e-01;
const float ERF_R3 = -2.685421146e-02;
const float ERF_R4 = 5.189087242e-03;
const float ERF_R5 = -8.016864303e-04;
const float ERF_R6 = 7.875874871e-05;

const float ERFC_Q0 = 4.573173225e-01;
const float ERFC_Q1 = 1.493528336e-01;
const float ERFC_Q2 = 3.224986792e-02;
const float ERFC_Q3 = 3.045124235e-03;
const float ERFC_Q4 = -4.685292370e-04;
const float ERFC_Q5 = -1.388853416e-04;
const float ERFC_Q6 = 1.268102096e-05;
const float ERFC_Q7 = 5.636364676e-06;
const float ERFC_Q8 = -6.694339731e-07;

// erf(z) for |z| < 1
float erf_small(float z) {
    float s = z * z;
    float r = fma(fma(fma(fma(fma(fma(ERF_R6, s, ERF_R5), s, ERF_R4), s, ERF_R3), s, ERF_R2), s, ERF_R1), s, ERF_R0);
    return fma(z, r, z);
}

// erfc(z) for z >= 1 (NaN stays NaN)
float erfc_large(float z) {
    if (z >= 10.0) return 0.0;
    float t = 2.0 / (2.0 + z);
    float v = (t - 0.416666667) * 4.0;
    float q = fma(fma(fma(fma(fma(fma(fma(fma(ERFC_Q8, v, ERFC_Q7), v, ERFC_Q6), v, ERFC_Q5), v, ERFC_Q4), v,
                                  ERFC_Q3), v, ERFC_Q2), v, ERFC_Q1), v, ERFC_Q0);
    // exp(-z^2) with z^2 = hi + lo split exactly (where fma is fused): exp(-hi) * (1 - lo). Rounding
    // z^2 alone would cost erfc a relative z^2 * 2^-24 (1e-6 at z = 4).
    float hi = z * z;
    float lo = fma(z, z, -hi);
    float e = exp(-hi);
    return fma(-lo, e, e) * t * q;
}

const float INV_SQRT2 = 0.707106781;
const float INV_SQRT_2PI = 0.398942280;

// Phi(x) = 0.5 * (1 + erf(x/sqrt2)); the lower tail is 0.5*erfc(|x|/sqrt2), relatively accurate.
float normal_cdf(float x) {
    float z = abs(x) * INV_SQRT2;
    if (z < 1.0) return fma(0.5, erf_small(x * INV_SQRT2), 0.5);
    float c = 0.5 * erfc_large(z);
    return x > 0.0 ? 1.0 - c : c;
}

// phi(x); 0 past |x| = 40 (exp(-800) is 0 in fp32 anyway) so x*phi(x) stays 0, not NaN, at inf.
float normal_pdf(float x) {
    return abs(x) < 40.0 ? INV_SQRT_2PI * exp(-0.5 * x * x) : 0.0;
}

float gelu_f(float x) {
    float p = normal_cdf(x);
    return p == 0.0 ? 0.0 : x * p;   // p = 0 only far in the lower tail: 0 there, also for x = -inf
}

float gelu_df(float x) { return normal_cdf(x) + x * normal_pdf(x); }

// ---- tanh -------------------------------------------------------------------------------------
// GLSL defines tanh as sinh/cosh, (e^x - e^-x)/(e^x + e^-x); a driver that evaluates it that way
// returns inf/inf = NaN once e^x overflows (|x| > 88). Here:
//   |x| < 0.625: tanh(x) = x + x^3 * T(x^2), T a degree-4 Chebyshev fit of (tanh(x)/x - 1)/x^2
//   otherwise:   tanh(|x|) = (1 - e)/(1 + e), e = exp(-2|x|) <= 0.29 (no cancellation), sign of x
// Measured max relative error 1.5e-7 (2.5 fp32 ulps near 1) on every fp32 x in [1e-8, 30] (CPU).
const float TANH_T0 = -3.333332837e-01;
const float TANH_T1 = 1.333276927e-01;
const float TANH_T2 = -5.385090783e-02;
const float TANH_T3 = 2.099717967e-02;
const float TANH_T4 = -6.096714176e-03;

float tanh_f(float x) {
    float a = abs(x);
    if (a < 0.625) {
        float s = x * x;
        float r = fma(fma(fma(fma(TANH_T4, s, TANH_T3), s, TANH_T2), s, TANH_T1), s, TANH_T0);
        return fma(x * s, r, x);
    }
    float e = exp(-2.0 * a);
    float y = (1.0 - e) / (1.0 + e);
    return x < 0.0 ? -y : y;
}

// sech^2(x) = 4e/(1+e)^2, e = exp(-2|x|): exact 1 at 0, relatively accurate as it decays to 0.
float tanh_df(float x) {
    float e = exp(-2.0 * abs(x));
    float u = 1.0 + e;
    return 4.0 * e / (u * u);
}

// ---- sigmoid ------------------------------------------------------------------------------------
// e = exp(-|x|) <= 1 never overflows: sigmoid = 1/(1+e) for x >= 0, e/(1+e) below 0.
float sigmoid_f(float x) {
    float e = exp(-abs(x));
    float r = 1.0 / (1.0 + e);
    return x >= 0.0 ? r : e * r;
}

// sigmoid(x)*(1 - sigmoid(x)) = e/(1+e)^2, symmetric in x, no 1 - s cancellation.
float sigmoid_df(float x) {
    float e = exp(-abs(x));
    float u = 1.0 + e;
    return e / (u * u);
}

// ---- GELU, tanh form ----------------------------------------------------------------------------
// x * sigmoid(2u): 0.5 * (1 + tanh(u)) written as sigmoid(2u) keeps its relative accuracy where
// tanh(u) nears -1. u's cube reaches fp32's range only past |x| = 7e12, where sigmoid saturates to
// 0 or 1 anyway; sigmoid'(2u) = 0 there, and the derivative returns sigmoid alone (no 0 * inf).
const float GELU_TANH_C = 0.7978845608;  // sqrt(2/pi)
const float GELU_TANH_A = 0.044715;

float gelu_tanh_u(float x) { return GELU_TANH_C * fma(GELU_TANH_A * x * x, x, x); }

float gelu_tanh_f(float x) {
    float s = sigmoid_f(2.0 * gelu_tanh_u(x));
    return s == 0.0 ? 0.0 : x * s;
}

float gelu_tanh_df(float x) {
    float v = 2.0 * gelu_tanh_u(x);
    float s = sigmoid_f(v), ds = sigmoid_df(v);
    if (ds == 0.0) return s;
    return s + 2.0 * x * ds * GELU_TANH_C * fma(3.0 * GELU_TANH_A, x * x, 1.0);
}

float forward_f(float x) {
    if (FUNC == 0u) return gelu_f(x);
    if (FUNC == 1u) return tanh_f(x);
    if (FUNC == 3u) return gelu_tanh_f(x);
    return sigmoid_f(x);
}

float derivative_f(float x) {
    if (FUNC == 0u) return gelu_df(x);
    if (FUNC == 1u) return tanh_df(x);
    if (FUNC == 3u) return gelu_tanh_df(x);
    return sigmoid_df(x);
}

// forward: y[i] = f(x[i]);  backward: dx[i] = dy[i] * f'(x[i])   (fp32 math, one rounding to storage)
void main() {
    uint p = linear_invocation();
    if (2u * p >= pc.n) return;
    vec2 a = vec2(A_load2(p, pc.n));
    vec2 r;
    if (BACKWARD) {
        vec2 x = vec2(X_load2(p, pc.n));
        r = vec2(a.x * derivative_f(x.x), a.y * derivative_f(x.y));
    } else {
        r = vec2(forward_f(a.x), forward_f(a.y));
    }
    Y_store2(p, pc.n, afp2(r));
}
