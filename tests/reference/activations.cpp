#include "reference/activations.hpp"

#include <algorithm>
#include <cmath>

namespace ref {

namespace {

constexpr double kPi = 3.141592653589793238462643383279502884;

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double normal_pdf(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * kPi); }
double sigmoid(double x) {
    const double e = std::exp(-std::fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

double gelu_tanh_u(double x) { return 0.7978845608028654 * (x + 0.044715 * x * x * x); }

} // namespace

double activation(Activation f, double x) {
    switch (f) {
    case Activation::gelu: return x * normal_cdf(x);
    case Activation::tanh: return std::tanh(x);
    case Activation::sigmoid: return sigmoid(x);
    case Activation::gelu_tanh: return 0.5 * x * (1.0 + std::tanh(gelu_tanh_u(x)));  // the textbook form
    }
    return 0;
}

double activation_derivative(Activation f, double x) {
    switch (f) {
    case Activation::gelu: return normal_cdf(x) + x * normal_pdf(x);
    case Activation::tanh: {
        const double c = std::cosh(x);  // inf past |x| = 710: 1/inf = 0
        return 1.0 / (c * c);
    }
    case Activation::sigmoid: return sigmoid(x) * sigmoid(-x);
    case Activation::gelu_tanh: {
        const double t = std::tanh(gelu_tanh_u(x)), c = std::cosh(gelu_tanh_u(x));
        return 0.5 * (1.0 + t) + 0.5 * x * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x) / (c * c);
    }
    }
    return 0;
}

double activation_derivative_fd(Activation f, double x, double& error_bound) {
    const double h = std::ldexp(1.0, -14);  // x +- h is exact for |x| < 2^38
    const double hi = activation(f, x + h), lo = activation(f, x - h);
    // Truncation h^2/6 |f'''(xi)| with |f'''| <= 2 for all three (tanh'''(0) = -2), plus the
    // rounding of f(x +- h) (a few ulps of max |f|) divided by 2h.
    const double fmax = std::max(std::fabs(hi), std::fabs(lo));
    error_bound = h * h / 3.0 + 8.0 * std::ldexp(fmax, -52) / (2.0 * h);
    return (hi - lo) / (2.0 * h);
}

std::vector<double> activation(Activation f, std::span<const float> x) {
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = activation(f, x[i]);
    return y;
}

std::vector<double> activation_backward(Activation f, std::span<const float> dy, std::span<const float> x) {
    std::vector<double> dx(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) dx[i] = double(dy[i]) * activation_derivative(f, x[i]);
    return dx;
}

} // namespace ref
