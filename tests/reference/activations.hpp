#pragma once
// Activation references in double precision, written from the textbook definitions (std::erfc,
// std::tanh, std::exp), independently of shaders/activation.comp's approximations.
#include <cstdint>
#include <span>
#include <vector>

namespace ref {

enum class Activation { gelu, tanh, sigmoid, gelu_tanh };

// f(x): GELU x * Phi(x) with Phi(x) = erfc(-x/sqrt2)/2 (no 1 + erf cancellation in the lower
// tail), tanh, sigmoid 1/(1+exp(-x)) (evaluated through exp(-|x|)).
double activation(Activation f, double x);
// f'(x), analytic: Phi(x) + x*phi(x); 1/cosh(x)^2; sigmoid(x)*sigmoid(-x).
double activation_derivative(Activation f, double x);
// f'(x) by the central difference (f(x+h) - f(x-h)) / 2h of activation(), h = 2^-14;
// `error_bound` receives a bound on its truncation and rounding error.
double activation_derivative_fd(Activation f, double x, double& error_bound);

std::vector<double> activation(Activation f, std::span<const float> x);
// dx = dy * f'(x)
std::vector<double> activation_backward(Activation f, std::span<const float> dy, std::span<const float> x);

} // namespace ref
