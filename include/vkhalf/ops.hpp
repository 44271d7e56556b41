#pragma once
// Eager element-wise ops, casts and reductions: each call records, submits and waits.
// The variant defaults to the best tier the device supports for the tensors' dtype.
#include <optional>

#include "vkhalf/tensor.hpp"

namespace vkhalf {

struct OpOptions {
    std::optional<Variant> variant;  // force a tier (tests, benchmarks); must suit the dtype
};

void add(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt = {});
void mul(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt = {});
void scale(Context& ctx, const Tensor& a, float alpha, Tensor& y, OpOptions opt = {});
void relu(Context& ctx, const Tensor& x, Tensor& y, OpOptions opt = {});
// dx = dy where x > 0, else 0
void relu_backward(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt = {});

// f32 <-> f16 conversion (round to nearest even), bit-exact on every device.
void cast(Context& ctx, const Tensor& src, Tensor& dst);

// Sum of every element of x, accumulated in fp32, into the 1-element f32 tensor out.
void sum(Context& ctx, const Tensor& x, Tensor& out, OpOptions opt = {});
float sum(Context& ctx, const Tensor& x, OpOptions opt = {});

// The tier an op uses by default for a dtype on this device.
Variant default_variant(const DeviceCaps& caps, DType dtype);

} // namespace vkhalf
