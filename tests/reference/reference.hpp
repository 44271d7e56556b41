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

enum class Elementwise { add, mul, scale, relu, relu_backward };
std::vector<double> elementwise(Elementwise op, std::span<const float> a, std::span<const float> b, double alpha);

double sum(std::span<const float> x);      // exact to double rounding (Neumaier summation)
double sum_abs(std::span<const float> x);

// Tolerance of one stored value against its double reference, by tier: fp32 storage allows a
// relative 2^-22 (two fp32 ulps); fp16 storage allows one fp16 ulp (either rounding direction)
// plus the smallest subnormal.
bool close_f32(double got, double want);
bool close_f16(double got, double want);

} // namespace ref
