#include "reference/norm.hpp"

#include <cmath>

namespace ref {

BatchNormResult batch_norm_train(std::span<const float> x, int b, int c, int s, std::span<const float> gamma,
                                 std::span<const float> beta, double eps) {
    BatchNormResult r{std::vector<double>(x.size()), std::vector<double>(c), std::vector<double>(c)};
    const double n = double(b) * s;
    for (int ch = 0; ch < c; ++ch) {
        double sum = 0, sq = 0;
        for (int i = 0; i < b; ++i)
            for (int j = 0; j < s; ++j) sum += x[(std::size_t(i) * c + ch) * s + j];
        const double mean = sum / n;
        for (int i = 0; i < b; ++i)
            for (int j = 0; j < s; ++j) sq += std::pow(x[(std::size_t(i) * c + ch) * s + j] - mean, 2);
        const double var = sq / n;
        r.mean[ch] = mean;
        r.var[ch] = var;
        for (int i = 0; i < b; ++i)
            for (int j = 0; j < s; ++j) {
                const std::size_t k = (std::size_t(i) * c + ch) * s + j;
                r.y[k] = gamma[ch] * (x[k] - mean) / std::sqrt(var + eps) + beta[ch];
            }
    }
    return r;
}

std::vector<double> batch_norm_eval(std::span<const float> x, int b, int c, int s, std::span<const float> gamma,
                                    std::span<const float> beta, std::span<const double> mean,
                                    std::span<const double> var, double eps) {
    std::vector<double> y(x.size());
    for (int i = 0; i < b; ++i)
        for (int ch = 0; ch < c; ++ch)
            for (int j = 0; j < s; ++j) {
                const std::size_t k = (std::size_t(i) * c + ch) * s + j;
                y[k] = gamma[ch] * (x[k] - mean[ch]) / std::sqrt(var[ch] + eps) + beta[ch];
            }
    return y;
}

void batch_norm_backward(std::span<const float> x, std::span<const double> dy, int b, int c, int s,
                         std::span<const float> gamma, double eps, std::vector<double>& dx, std::vector<double>& dgamma,
                         std::vector<double>& dbeta) {
    const std::vector<float> ones(c, 1.0f), zeros(c, 0.0f);
    const auto fwd = batch_norm_train(x, b, c, s, ones, zeros, eps);  // y = x-hat
    const double n = double(b) * s;
    dx.assign(x.size(), 0.0);
    dgamma.assign(c, 0.0);
    dbeta.assign(c, 0.0);
    for (int ch = 0; ch < c; ++ch) {
        for (int i = 0; i < b; ++i)
            for (int j = 0; j < s; ++j) {
                const std::size_t k = (std::size_t(i) * c + ch) * s + j;
                dgamma[ch] += dy[k] * fwd.y[k];
                dbeta[ch] += dy[k];
            }
        const double invstd = 1.0 / std::sqrt(fwd.var[ch] + eps);
        for (int i = 0; i < b; ++i)
            for (int j = 0; j < s; ++j) {
                const std::size_t k = (std::size_t(i) * c + ch) * s + j;
                dx[k] = gamma[ch] * invstd * (dy[k] - dbeta[ch] / n - fwd.y[k] * dgamma[ch] / n);
            }
    }
}

} // namespace ref

namespace ref {

std::vector<double> layer_norm(std::span<const float> x, int rows, int d, std::span<const float> gamma,
                               std::span<const float> beta, double eps) {
    std::vector<double> y(x.size());
    for (int r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int j = 0; j < d; ++j) mean += x[std::size_t(r) * d + j];
        mean /= d;
        for (int j = 0; j < d; ++j) var += std::pow(x[std::size_t(r) * d + j] - mean, 2);
        const double rstd = 1.0 / std::sqrt(var / d + eps);
        for (int j = 0; j < d; ++j)
            y[std::size_t(r) * d + j] = gamma[j] * (x[std::size_t(r) * d + j] - mean) * rstd + beta[j];
    }
    return y;
}

void layer_norm_backward(std::span<const float> x, std::span<const double> dy, int rows, int d,
                         std::span<const float> gamma, double eps, std::vector<double>& dx, std::vector<double>& dgamma,
                         std::vector<double>& dbeta) {
    const std::vector<float> ones(d, 1.0f), zeros(d, 0.0f);
    const auto xh = layer_norm(x, rows, d, ones, zeros, eps);
    dx.assign(x.size(), 0.0);
    dgamma.assign(d, 0.0);
    dbeta.assign(d, 0.0);
    for (int r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int j = 0; j < d; ++j) mean += x[std::size_t(r) * d + j];
        mean /= d;
        for (int j = 0; j < d; ++j) var += std::pow(x[std::size_t(r) * d + j] - mean, 2);
        const double rstd = 1.0 / std::sqrt(var / d + eps);
        double sg = 0, sgx = 0;
        for (int j = 0; j < d; ++j) {
            const std::size_t k = std::size_t(r) * d + j;
            sg += dy[k] * gamma[j];
            sgx += dy[k] * gamma[j] * xh[k];
            dgamma[j] += dy[k] * xh[k];
            dbeta[j] += dy[k];
        }
        for (int j = 0; j < d; ++j) {
            const std::size_t k = std::size_t(r) * d + j;
            dx[k] = rstd * (dy[k] * gamma[j] - sg / d - xh[k] * sgx / d);
        }
    }
}

} // namespace ref
