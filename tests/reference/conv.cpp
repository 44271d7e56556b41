#include "reference/conv.hpp"

#include <cmath>
#include <limits>

namespace ref {

namespace {

double at(const ConvDims& d, std::span<const float> x, int b, int c, int ih, int iw) {
    if (ih < 0 || iw < 0 || ih >= d.h || iw >= d.w) return 0.0;
    return x[((std::size_t(b) * d.cin + c) * d.h + ih) * d.w + iw];
}

} // namespace

std::vector<double> conv2d(const ConvDims& d, std::span<const float> x, std::span<const float> w,
                           std::span<const float> bias, bool relu, std::vector<double>& magnitude) {
    const int oh = d.oh(), ow = d.ow();
    std::vector<double> y(std::size_t(d.b) * d.cout * oh * ow);
    magnitude.assign(y.size(), 0.0);
    for (int b = 0; b < d.b; ++b)
        for (int co = 0; co < d.cout; ++co)
            for (int i = 0; i < oh; ++i)
                for (int j = 0; j < ow; ++j) {
                    double s = 0, mag = 0;
                    const int first = co / d.cout_g() * d.cin_g();  // the group's first input channel
                    for (int ci = 0; ci < d.cin_g(); ++ci)
                        for (int u = 0; u < d.kh; ++u)
                            for (int v = 0; v < d.kw; ++v) {
                                const double wv = w[((std::size_t(co) * d.cin_g() + ci) * d.kh + u) * d.kw + v];
                                const double xv = at(d, x, b, first + ci, i * d.stride_h - d.pad_h + u * d.dil_h,
                                                     j * d.stride_w - d.pad_w + v * d.dil_w);
                                s += wv * xv;
                                mag += std::fabs(wv * xv);
                            }
                    if (!bias.empty()) s += bias[co];
                    if (relu && s < 0) s = 0;
                    const std::size_t idx = ((std::size_t(b) * d.cout + co) * oh + i) * ow + j;
                    y[idx] = s;
                    magnitude[idx] = mag + (bias.empty() ? 0.0 : std::fabs(bias[co]));
                }
    return y;
}

std::vector<double> conv2d_backward_data(const ConvDims& d, std::span<const double> dy, std::span<const float> w) {
    const int oh = d.oh(), ow = d.ow();
    std::vector<double> dx(std::size_t(d.b) * d.cin * d.h * d.w, 0.0);
    for (int b = 0; b < d.b; ++b)
        for (int co = 0; co < d.cout; ++co)
            for (int i = 0; i < oh; ++i)
                for (int j = 0; j < ow; ++j) {
                    const double g = dy[((std::size_t(b) * d.cout + co) * oh + i) * ow + j];
                    const int first = co / d.cout_g() * d.cin_g();
                    for (int ci = 0; ci < d.cin_g(); ++ci)
                        for (int u = 0; u < d.kh; ++u)
                            for (int v = 0; v < d.kw; ++v) {
                                const int ih = i * d.stride_h - d.pad_h + u * d.dil_h;
                                const int iw = j * d.stride_w - d.pad_w + v * d.dil_w;
                                if (ih < 0 || iw < 0 || ih >= d.h || iw >= d.w) continue;
                                dx[((std::size_t(b) * d.cin + first + ci) * d.h + ih) * d.w + iw] +=
                                    g * w[((std::size_t(co) * d.cin_g() + ci) * d.kh + u) * d.kw + v];
                            }
                }
    return dx;
}

std::vector<double> conv2d_backward_weight(const ConvDims& d, std::span<const double> dy, std::span<const float> x) {
    const int oh = d.oh(), ow = d.ow();
    std::vector<double> dw(std::size_t(d.cout) * d.cin_g() * d.kh * d.kw, 0.0);
    for (int b = 0; b < d.b; ++b)
        for (int co = 0; co < d.cout; ++co)
            for (int i = 0; i < oh; ++i)
                for (int j = 0; j < ow; ++j) {
                    const double g = dy[((std::size_t(b) * d.cout + co) * oh + i) * ow + j];
                    const int first = co / d.cout_g() * d.cin_g();
                    for (int ci = 0; ci < d.cin_g(); ++ci)
                        for (int u = 0; u < d.kh; ++u)
                            for (int v = 0; v < d.kw; ++v)
                                dw[((std::size_t(co) * d.cin_g() + ci) * d.kh + u) * d.kw + v] +=
                                    g * at(d, x, b, first + ci, i * d.stride_h - d.pad_h + u * d.dil_h,
                                           j * d.stride_w - d.pad_w + v * d.dil_w);
                }
    return dw;
}

std::vector<double> max_pool2d(const PoolDims& d, std::span<const float> x, std::vector<uint32_t>& argmax) {
    const int oh = d.oh(), ow = d.ow();
    std::vector<double> y(std::size_t(d.planes) * oh * ow);
    argmax.assign(y.size(), 0);
    for (int p = 0; p < d.planes; ++p)
        for (int i = 0; i < oh; ++i)
            for (int j = 0; j < ow; ++j) {
                double best = -std::numeric_limits<double>::infinity();
                uint32_t arg = 0;
                for (int u = 0; u < d.kh; ++u)
                    for (int v = 0; v < d.kw; ++v) {
                        const int ih = i * d.stride_h - d.pad_h + u, iw = j * d.stride_w - d.pad_w + v;
                        if (ih < 0 || iw < 0 || ih >= d.h || iw >= d.w) continue;
                        const double val = x[(std::size_t(p) * d.h + ih) * d.w + iw];
                        if (val > best) best = val, arg = uint32_t(ih * d.w + iw);
                    }
                y[(std::size_t(p) * oh + i) * ow + j] = best;
                argmax[(std::size_t(p) * oh + i) * ow + j] = arg;
            }
    return y;
}

std::vector<double> max_pool2d_backward(const PoolDims& d, std::span<const double> dy, std::span<const uint32_t> argmax) {
    const std::size_t out = std::size_t(d.oh()) * d.ow();
    std::vector<double> dx(std::size_t(d.planes) * d.h * d.w, 0.0);
    for (int p = 0; p < d.planes; ++p)
        for (std::size_t o = 0; o < out; ++o) dx[std::size_t(p) * d.h * d.w + argmax[p * out + o]] += dy[p * out + o];
    return dx;
}

std::vector<double> avg_pool2d(const PoolDims& d, std::span<const double> x) {
    const int oh = d.oh(), ow = d.ow();
    std::vector<double> y(std::size_t(d.planes) * oh * ow);
    for (int p = 0; p < d.planes; ++p)
        for (int i = 0; i < oh; ++i)
            for (int j = 0; j < ow; ++j) {
                double s = 0;
                for (int u = 0; u < d.kh; ++u)
                    for (int v = 0; v < d.kw; ++v) {
                        const int ih = i * d.stride_h - d.pad_h + u, iw = j * d.stride_w - d.pad_w + v;
                        if (ih >= 0 && iw >= 0 && ih < d.h && iw < d.w) s += x[(std::size_t(p) * d.h + ih) * d.w + iw];
                    }
                y[(std::size_t(p) * oh + i) * ow + j] = s / (d.kh * d.kw);
            }
    return y;
}

std::vector<double> avg_pool2d_backward(const PoolDims& d, std::span<const double> dy) {
    const int oh = d.oh(), ow = d.ow();
    std::vector<double> dx(std::size_t(d.planes) * d.h * d.w, 0.0);
    for (int p = 0; p < d.planes; ++p)
        for (int i = 0; i < oh; ++i)
            for (int j = 0; j < ow; ++j)
                for (int u = 0; u < d.kh; ++u)
                    for (int v = 0; v < d.kw; ++v) {
                        const int ih = i * d.stride_h - d.pad_h + u, iw = j * d.stride_w - d.pad_w + v;
                        if (ih >= 0 && iw >= 0 && ih < d.h && iw < d.w)
                            dx[(std::size_t(p) * d.h + ih) * d.w + iw] +=
                                dy[(std::size_t(p) * oh + i) * ow + j] / (d.kh * d.kw);
                    }
    return dx;
}

} // namespace ref
