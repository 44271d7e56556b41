// Host side of shaders/cast.comp: f32 <-> f16, round to nearest even, bit-exact on every device.
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {
namespace detail {

void record_cast(CommandList& cl, ContextImpl& impl, const Tensor& src, Tensor& dst) {
    detail::check_defined("cast", src, "src");
    detail::check_defined("cast", dst, "dst");
    detail::check_same_shape("cast", src, dst);
    if (src.dtype() == DType::u32 || dst.dtype() == DType::u32)
        throw DTypeError("cast: u32 tensors cannot be cast (expected f32 -> f16 or f16 -> f32)");
    if (src.dtype() == dst.dtype())
        throw DTypeError("cast: src and dst are both " + std::string(to_string(src.dtype())) +
                         " (expected f32 -> f16 or f16 -> f32)");
    if (src.numel() > std::numeric_limits<int32_t>::max())
        throw LimitError("cast: " + std::to_string(src.numel()) + " elements exceed 2^31");
    const bool to_f16 = src.dtype() == DType::f32;
    const Tensor& f32 = to_f16 ? src : dst;
    const Tensor& f16 = to_f16 ? dst : src;
    const uint32_t wg = detail::workgroup_size(impl.caps);
    // The integer conversion reads packed uint storage, which every device has: one kernel serves
    // fp16 tensors of all tiers.
    const auto& p = impl.pipelines->get({"cast.f16p", 2, sizeof(uint32_t), wg, {{1, to_f16 ? 1u : 0u}}});
    const uint32_t n = static_cast<uint32_t>(src.numel());
    // Both bindings are writable in the shader (one module, the direction a specialisation
    // constant), so the source counts as written too.
    const detail::BufferAccess buffers[] = {to_f16 ? detail::read_write(f32) : detail::write(f32),
                                            to_f16 ? detail::write(f16) : detail::read_write(f16)};
    cl.dispatch(p, buffers, &n, sizeof(n), detail::ceil_div(detail::ceil_div(n, 2), wg),
                to_f16 ? "cast.f32_to_f16" : "cast.f16_to_f32");
}

} // namespace detail

} // namespace vkhalf
