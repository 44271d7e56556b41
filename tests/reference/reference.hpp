#pragma once
// CPU references in double precision, written independently of the library's code paths.
#include <cstdint>
#include <span>
#include <vector>

namespace ref {

// fp32 -> fp16 bits by scaling and std::nearbyint in double (round to nearest even), a different
// algorithm from the library's integer one. NaN maps to a quiet NaN with the input's sign.
uint16_t f32_to_f16(float f);
// fp16 bits -> value via ldexp.
double f16_to_double(uint16_t h);
// The double nearest-even-rounded to fp16, as a double (inf past 65504 rounding range).
double round_f16(double x);

enum class Elementwise { add, mul, scale, relu, relu_backward, div };
std::vector<double> elementwise(Elementwise op, std::span<const float> a, std::span<const float> b, double alpha);

double sum(std::span<const float> x);      // exact to double rounding (Neumaier summation)
double sum_abs(std::span<const float> x);

// Tolerance of one stored value against its double reference, by tier: fp32 storage allows a
// relative 2^-22 (two fp32 ulps); fp16 storage allows one fp16 ulp (either rounding direction)
// plus the smallest subnormal.
bool close_f32(double got, double want);
bool close_f16(double got, double want);

} // namespace ref

namespace ref {

// C = alpha * op(A) op(B) + beta * C0 (+ bias) (relu) in double, per batch; A and B may be shared
// across batches (a_batched / b_batched false). `magnitude` receives sum_k |op(A)[m,k] op(B)[k,n]|,
// the scale of the rounding error an fp32 accumulation can make.
struct GemmArgs {
    int m = 0, n = 0, k = 0, batch = 1;
    bool trans_a = false, trans_b = false, a_batched = false, b_batched = false;
    double alpha = 1, beta = 0;
    int bias_mode = 0;  // 0 none, 1 per column, 2 per row
    bool relu = false;
};
std::vector<double> gemm(const GemmArgs& g, std::span<const float> a, std::span<const float> b,
                         std::span<const float> c0, std::span<const float> bias, std::vector<double>& magnitude);

} // namespace ref

namespace ref {

// torch.optim semantics in double: SGD (momentum, dampening, nesterov, L2), Adam (L2), AdamW
// (decoupled decay). `t` is the 1-based step; `buf_init` says whether SGD's momentum buffer
// already exists (PyTorch sets buf = g on the first step).
struct OptimizerRef {
    int kind = 2;  // 0 SGD, 1 Adam, 2 AdamW
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
    double momentum = 0, dampening = 0;
    bool nesterov = false;
};
void optimizer_step(const OptimizerRef& o, int t, std::vector<double>& p, std::vector<double>& m,
                    std::vector<double>& v, std::span<const double> g);

} // namespace ref
