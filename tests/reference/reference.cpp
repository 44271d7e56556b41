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
        case Elementwise::div: y[i] = x / b[i]; break;
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

namespace ref {

std::vector<double> gemm(const GemmArgs& g, std::span<const float> a, std::span<const float> b,
                         std::span<const float> c0, std::span<const float> bias, std::vector<double>& magnitude) {
    const std::size_t mn = std::size_t(g.m) * g.n;
    std::vector<double> c(mn * g.batch);
    magnitude.assign(c.size(), 0.0);
    for (int bt = 0; bt < g.batch; ++bt) {
        const float* A = a.data() + (g.a_batched ? std::size_t(bt) * g.m * g.k : 0);
        const float* B = b.data() + (g.b_batched ? std::size_t(bt) * g.k * g.n : 0);
        for (int i = 0; i < g.m; ++i)
            for (int j = 0; j < g.n; ++j) {
                double s = 0, mag = 0;
                for (int p = 0; p < g.k; ++p) {
                    const double x = g.trans_a ? A[std::size_t(p) * g.m + i] : A[std::size_t(i) * g.k + p];
                    const double y = g.trans_b ? B[std::size_t(j) * g.k + p] : B[std::size_t(p) * g.n + j];
                    s += x * y;
                    mag += std::fabs(x * y);
                }
                const std::size_t idx = bt * mn + std::size_t(i) * g.n + j;
                double v = g.alpha * s;
                if (g.beta != 0) v += g.beta * c0[idx];
                if (g.bias_mode == 1) v += bias[j];
                if (g.bias_mode == 2) v += bias[i];
                if (g.relu) v = v > 0 ? v : 0;
                c[idx] = v;
                magnitude[idx] = std::fabs(g.alpha) * mag;
            }
    }
    return c;
}

} // namespace ref

namespace ref {

void optimizer_step(const OptimizerRef& o, int t, std::vector<double>& p, std::vector<double>& m,
                    std::vector<double>& v, std::span<const double> grad) {
    for (std::size_t i = 0; i < p.size(); ++i) {
        double g = grad[i];
        if (o.kind == 0) {
            g += o.weight_decay * p[i];
            if (o.momentum != 0) {
                m[i] = t == 1 ? g : o.momentum * m[i] + (1 - o.dampening) * g;
                g = o.nesterov ? g + o.momentum * m[i] : m[i];
            }
            p[i] -= o.lr * g;
            continue;
        }
        if (o.kind == 2) p[i] *= 1 - o.lr * o.weight_decay;
        else g += o.weight_decay * p[i];
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
        const double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
        p[i] -= (o.lr / bc1) * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + o.eps);
    }
}

} // namespace ref
