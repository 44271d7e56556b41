#include "reference/reference.hpp"

#include <cmath>

namespace ref {

uint16_t f32_to_f16(float f) {
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7e00);
    const double x = std::fabs(static_cast<double>(f));
    if (x >= 65520.0) return static_cast<uint16_t>(sign | 0x7c00);  // halfway to 2^16 and above -> inf
    if (x < std::ldexp(1.0, -14)) {                                   // subnormal range: step 2^-24
        return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(x, 24))));
    }
    int e = 0;
    std::frexp(x, &e);  // x in [2^(e-1), 2^e)
    int exponent = e - 1;
    double q = std::nearbyint(std::ldexp(x, 10 - exponent));  // in [1024, 2048]
    if (q == 2048.0) { q = 1024.0; ++exponent; }
    if (exponent > 15) return static_cast<uint16_t>(sign | 0x7c00);
    return static_cast<uint16_t>(sign | ((exponent + 15) << 10) | (static_cast<int>(q) - 1024));
}

double f16_to_double(uint16_t h) {
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 31) return m ? std::nan("") : sign * INFINITY;
    if (e == 0) return sign * std::ldexp(m, -24);
    return sign * std::ldexp(1024 + m, e - 25);
}

double round_f16(double x) { return f16_to_double(f32_to_f16(static_cast<float>(x))); }

std::vector<double> elementwise(Elementwise op, std::span<const float> a, std::span<const float> b, double alpha) {
    std::vector<double> y(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double x = a[i];
        switch (op) {
        case Elementwise::add: y[i] = x + b[i]; break;
        case Elementwise::mul: y[i] = x * b[i]; break;
        case Elementwise::scale: y[i] = alpha * x; break;
        case Elementwise::relu: y[i] = x > 0 ? x : 0.0; break;
        case Elementwise::relu_backward: y[i] = b[i] > 0 ? x : 0.0; break;
        }
    }
    return y;
}

double sum(std::span<const float> x) {
    double s = 0, c = 0;
    for (float f : x) {
        const double v = f, t = s + v;
        c += std::fabs(s) >= std::fabs(v) ? (s - t) + v : (v - t) + s;
        s = t;
    }
    return s + c;
}

double sum_abs(std::span<const float> x) {
    double s = 0;
    for (float f : x) s += std::fabs(static_cast<double>(f));
    return s;
}

bool close_f32(double got, double want) {
    return std::fabs(got - want) <= std::ldexp(std::fabs(want), -22) + 1e-38;
}

bool close_f16(double got, double want) {
    if (std::isinf(want)) return got == want;
    return std::fabs(got - want) <= std::ldexp(std::fabs(want), -10) + std::ldexp(1.0, -24);
}

} // namespace ref
