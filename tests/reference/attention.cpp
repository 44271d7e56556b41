#include "reference/attention.hpp"

#include <algorithm>
#include <cmath>

namespace ref {

namespace {

// Softmax probabilities of query t of (b, h) over keys 0..t.
std::vector<double> probabilities(const std::vector<double>& qkv, int b, int h, int t, int T, int heads, int d) {
    const int C = heads * d;
    std::vector<double> p(std::size_t(t + 1));
    for (int j = 0; j <= t; ++j) {
        double s = 0;
        for (int c = 0; c < d; ++c)
            s += qkv[std::size_t((b * T + t) * 3 * C + h * d + c)] * qkv[std::size_t((b * T + j) * 3 * C + C + h * d + c)];
        p[std::size_t(j)] = s / std::sqrt(double(d));
    }
    const double m = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (double& x : p) sum += (x = std::exp(x - m));
    for (double& x : p) x /= sum;
    return p;
}

} // namespace

std::vector<double> causal_attention(const std::vector<double>& qkv, int n, int T, int heads, int d) {
    const int C = heads * d;
    std::vector<double> y(std::size_t(n * T * C), 0.0);
    for (int b = 0; b < n; ++b)
        for (int h = 0; h < heads; ++h)
            for (int t = 0; t < T; ++t) {
                const auto p = probabilities(qkv, b, h, t, T, heads, d);
                for (int j = 0; j <= t; ++j)
                    for (int c = 0; c < d; ++c)
                        y[std::size_t((b * T + t) * C + h * d + c)] +=
                            p[std::size_t(j)] * qkv[std::size_t((b * T + j) * 3 * C + 2 * C + h * d + c)];
            }
    return y;
}

std::vector<double> causal_attention_backward(const std::vector<double>& qkv, const std::vector<double>& dy, int n,
                                              int T, int heads, int d) {
    const int C = heads * d;
    const double scale = 1.0 / std::sqrt(double(d));
    std::vector<double> g(qkv.size(), 0.0);
    auto at = [&](int b, int t, int part, int h, int c) { return std::size_t((b * T + t) * 3 * C + part * C + h * d + c); };
    for (int b = 0; b < n; ++b)
        for (int h = 0; h < heads; ++h)
            for (int t = 0; t < T; ++t) {
                const auto p = probabilities(qkv, b, h, t, T, heads, d);
                std::vector<double> dp(std::size_t(t + 1), 0.0);
                double pdp = 0;
                for (int j = 0; j <= t; ++j) {
                    for (int c = 0; c < d; ++c)
                        dp[std::size_t(j)] += dy[std::size_t((b * T + t) * C + h * d + c)] * qkv[at(b, j, 2, h, c)];
                    pdp += p[std::size_t(j)] * dp[std::size_t(j)];
                }
                for (int j = 0; j <= t; ++j) {
                    const double ds = p[std::size_t(j)] * (dp[std::size_t(j)] - pdp) * scale;
                    for (int c = 0; c < d; ++c) {
                        g[at(b, t, 0, h, c)] += ds * qkv[at(b, j, 1, h, c)];
                        g[at(b, j, 1, h, c)] += ds * qkv[at(b, t, 0, h, c)];
                        g[at(b, j, 2, h, c)] += p[std::size_t(j)] * dy[std::size_t((b * T + t) * C + h * d + c)];
                    }
                }
            }
    return g;
}

} // namespace ref
