#pragma once
// BatchNorm2d reference in double over NCHW.
#include <span>
#include <vector>

namespace ref {

struct BatchNormResult {
    std::vector<double> y, mean, var;  // var: biased (normalisation); the running update uses unbiased
};
BatchNormResult batch_norm_train(std::span<const float> x, int b, int c, int s, std::span<const float> gamma,
                                 std::span<const float> beta, double eps);
std::vector<double> batch_norm_eval(std::span<const float> x, int b, int c, int s, std::span<const float> gamma,
                                    std::span<const float> beta, std::span<const double> mean,
                                    std::span<const double> var, double eps);
// dx, dgamma, dbeta of the training forward.
void batch_norm_backward(std::span<const float> x, std::span<const double> dy, int b, int c, int s,
                         std::span<const float> gamma, double eps, std::vector<double>& dx, std::vector<double>& dgamma,
                         std::vector<double>& dbeta);

} // namespace ref

namespace ref {

// LayerNorm over rows of d: y, and (backward) dx, dgamma, dbeta.
std::vector<double> layer_norm(std::span<const float> x, int rows, int d, std::span<const float> gamma,
                               std::span<const float> beta, double eps);
void layer_norm_backward(std::span<const float> x, std::span<const double> dy, int rows, int d,
                         std::span<const float> gamma, double eps, std::vector<double>& dx, std::vector<double>& dgamma,
                         std::vector<double>& dbeta);

} // namespace ref
