#pragma once
// Convolution and pooling over NCHW tensors (PyTorch's layout: weights [out, in, kh, kw], so
// checkpoints map one to one), fp32 accumulation in every tier.
#include "vkhalf/ops.hpp"

namespace vkhalf {

// implicit_gemm: conv2d.comp gathers its operands inside the product (no extra memory).
// lowered_gemm: im2col into a workspace, then the GEMM (plus col2im for the data gradient) on the
// kernel of the device's GEMM policy (DeviceCaps::gemm_f16 / gemm_f32): the register-blocked
// kernel on CPU devices, where gathers inside a GEMM are slow, and the cooperative-matrix kernel
// for f16 tensors on GPUs that have it. automatic: lowered on those devices while the workspaces
// stay under 64 MiB, implicit elsewhere. OpOptions{Variant::coopmat} forces the cooperative-matrix
// GEMM (lowered; f16 tensors only).
enum class ConvAlgorithm : uint8_t { automatic, implicit_gemm, lowered_gemm };

struct Conv2dParams {
    int64_t stride_h = 1, stride_w = 1;
    int64_t pad_h = 0, pad_w = 0;
    int64_t dil_h = 1, dil_w = 1;
    ConvAlgorithm algorithm = ConvAlgorithm::automatic;
    // Channel groups (torch's groups): w is [out, in / groups, kh, kw] and output channel o sees
    // the input channels of group o / (out / groups) only; groups = in = out is depthwise. A grouped
    // convolution runs as the implicit GEMM, one group per workgroup z (not lowered, so not on
    // cooperative matrices).
    int64_t groups = 1;
};

// [batch, out, oh, ow] for x [batch, in, h, w] and w [out, in / groups, kh, kw]; ShapeError when
// empty or when the channels do not split into the groups.
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);

// y = conv(x, w) (+ bias[out]) (relu)
void conv2d(Context& ctx, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const Conv2dParams& p = {},
            bool relu = false, OpOptions opt = {});
// dx = the gradient of conv with respect to x, given dy
void conv2d_backward_data(Context& ctx, const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p = {},
                          OpOptions opt = {});
// dw = the gradient of conv with respect to w, given dy and x (the bias gradient is
// bias_grad(dy, db, BiasMode::per_channel))
void conv2d_backward_weight(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dw, const Conv2dParams& p = {},
                            OpOptions opt = {});

struct Pool2dParams {
    int64_t kh = 2, kw = 2;
    int64_t stride_h = 2, stride_w = 2;
    int64_t pad_h = 0, pad_w = 0;
};

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p);

// y = max over each window; argmax (u32, y's shape) records where, for the backward.
void max_pool2d(Context& ctx, const Tensor& x, Tensor& y, Tensor& argmax, const Pool2dParams& p = {}, OpOptions opt = {});
void max_pool2d_backward(Context& ctx, const Tensor& dy, const Tensor& argmax, Tensor& dx, const Pool2dParams& p = {},
                         OpOptions opt = {});
// Average over each window, padding counted (PyTorch's count_include_pad=True). A window of the
// whole image is global average pooling.
void avg_pool2d(Context& ctx, const Tensor& x, Tensor& y, const Pool2dParams& p = {}, OpOptions opt = {});
void avg_pool2d_backward(Context& ctx, const Tensor& dy, Tensor& dx, const Pool2dParams& p = {}, OpOptions opt = {});

} // namespace vkhalf
