#pragma once
// Convolution and pooling references in double precision over NCHW arrays.
#include <cstdint>
#include <span>
#include <vector>

namespace ref {

struct ConvDims {
    int b, cin, h, w, cout, kh, kw;
    int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
    int groups = 1;  // w is [cout, cin / groups, kh, kw]; output channel co reads group co / (cout / groups)
    int cin_g() const { return cin / groups; }
    int cout_g() const { return cout / groups; }
    int oh() const { return (h + 2 * pad_h - dil_h * (kh - 1) - 1) / stride_h + 1; }
    int ow() const { return (w + 2 * pad_w - dil_w * (kw - 1) - 1) / stride_w + 1; }
};

// y = conv(x, w) + bias (relu). `magnitude` gets sum |w x| per output (the accumulation error scale).
std::vector<double> conv2d(const ConvDims& d, std::span<const float> x, std::span<const float> w,
                           std::span<const float> bias, bool relu, std::vector<double>& magnitude);
std::vector<double> conv2d_backward_data(const ConvDims& d, std::span<const double> dy, std::span<const float> w);
std::vector<double> conv2d_backward_weight(const ConvDims& d, std::span<const double> dy, std::span<const float> x);

struct PoolDims {
    int planes, h, w, kh, kw, stride_h, stride_w, pad_h = 0, pad_w = 0;
    int oh() const { return (h + 2 * pad_h - kh) / stride_h + 1; }
    int ow() const { return (w + 2 * pad_w - kw) / stride_w + 1; }
};
// argmax: flat index in the plane of the first maximum of each window.
std::vector<double> max_pool2d(const PoolDims& d, std::span<const float> x, std::vector<uint32_t>& argmax);
std::vector<double> max_pool2d_backward(const PoolDims& d, std::span<const double> dy, std::span<const uint32_t> argmax);
std::vector<double> avg_pool2d(const PoolDims& d, std::span<const double> x);
std::vector<double> avg_pool2d_backward(const PoolDims& d, std::span<const double> dy);

} // namespace ref
