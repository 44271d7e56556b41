#include <bit>

#include "kernels/ops_common.hpp"
#include "kernels/train_state.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

Variant default_variant(const DeviceCaps& caps, DType dtype) {
    if (dtype == DType::f32) return Variant::f32;
    if (caps.supports(Variant::f16a) && !caps.prefer_fp32_math) return Variant::f16a;
    if (caps.supports(Variant::f16s)) return Variant::f16s;
    return Variant::f16p;
}

namespace detail {

void check_defined(std::string_view op, const Tensor& t, std::string_view name) {
    if (!t.defined()) throw Error(std::string(op) + ": tensor '" + std::string(name) + "' is empty (never created)");
}

void check_train_state(std::string_view op, const Tensor& state) {
    if (state.dtype() != DType::u32 || state.numel() != kTrainStateWords)
        throw ShapeError(std::string(op) + ": the training state must be a u32 tensor of " +
                         std::to_string(kTrainStateWords) + " words");
}

void check_same_shape(std::string_view op, const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape())
        throw ShapeError(std::string(op) + ": shapes differ: " + to_string(a.shape()) + " vs " + to_string(b.shape()) +
                         " (expected equal shapes)");
}

void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b) {
    if (a.dtype() != b.dtype())
        throw DTypeError(std::string(op) + ": dtypes differ: " + std::string(to_string(a.dtype())) + " vs " +
                         std::string(to_string(b.dtype())) + " (expected equal dtypes)");
}

Variant resolve_variant(std::string_view op, const DeviceCaps& caps, DType dtype, const OpOptions& opt) {
    if (dtype == DType::u32) throw DTypeError(std::string(op) + ": u32 tensors are not arithmetic (expected f32 or f16)");
    if (!opt.variant) return default_variant(caps, dtype);
    const Variant v = *opt.variant;
    if (variant_dtype(v) != dtype || v == Variant::coopmat)
        throw DTypeError(std::string(op) + ": variant " + std::string(to_string(v)) + " cannot run on " +
                         std::string(to_string(dtype)) + " tensors");
    if (!caps.supports(v))
        throw UnsupportedError(std::string(op) + ": variant " + std::string(to_string(v)) + " is not available on " +
                               caps.name + (v == Variant::f16a ? " (needs shaderFloat16 and 16-bit storage)"
                                                               : " (needs storageBuffer16BitAccess)"));
    return v;
}

std::string module_name(std::string_view shader, Variant v) {
    return std::string(shader) + "." + std::string(to_string(v));
}

uint32_t workgroup_size(const DeviceCaps& caps, uint32_t preferred) {
    uint32_t limit = std::min(caps.max_workgroup_invocations, caps.max_workgroup_size_x);
    return std::bit_floor(std::min(preferred, limit));
}

} // namespace detail
} // namespace vkhalf
