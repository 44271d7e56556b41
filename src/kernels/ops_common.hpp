#pragma once
// Shared by the host side of every op: argument checks that throw named errors, the variant a
// dispatch runs in, workgroup sizing.
#include <string>
#include <string_view>

#include "runtime/command_list.hpp"
#include "runtime/context_impl.hpp"
#include "runtime/tensor_range.hpp"
#include "vkhalf/ops.hpp"

namespace vkhalf::detail {

// Throws ShapeError unless both tensors have the same shape.
void check_same_shape(std::string_view op, const Tensor& a, const Tensor& b);
// Throws DTypeError unless both tensors have the same dtype.
void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b);
void check_defined(std::string_view op, const Tensor& t, std::string_view name);
// Throws ShapeError unless state is a training state (a u32 tensor holding one TrainState).
void check_train_state(std::string_view op, const Tensor& state);

// The variant to run: opt.variant if given (checked against dtype and device), else the default.
Variant resolve_variant(std::string_view op, const DeviceCaps& caps, DType dtype, const OpOptions& opt);

// "<shader>.<variant>"
std::string module_name(std::string_view shader, Variant v);

// A power-of-two workgroup size <= preferred that the device accepts.
uint32_t workgroup_size(const DeviceCaps& caps, uint32_t preferred = 256);

inline uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

} // namespace vkhalf::detail
