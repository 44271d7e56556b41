// Host side of shaders/reduce_sum.comp: sum of all elements, fp32 accumulation, two passes.
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

namespace {
// At most this many partial sums after the first pass; the second pass is one workgroup.
constexpr uint64_t kMaxPartials = 256;
}

namespace detail {

void record_sum(CommandList& cl, Context& ctx, const Tensor& x, Tensor& out, const OpOptions& opt, bool squares) {
    detail::check_defined("sum", x, "x");
    detail::check_defined("sum", out, "out");
    if (out.dtype() != DType::f32 || out.numel() != 1)
        throw ShapeError("sum: out must be a 1-element f32 tensor, got " + to_string(out.shape()) + " " +
                         std::string(to_string(out.dtype())));
    if (x.numel() > std::numeric_limits<int32_t>::max())
        throw LimitError("sum: " + std::to_string(x.numel()) + " elements exceed 2^31");
    auto& impl = ctx.impl();
    const Variant v = detail::resolve_variant("sum", impl.caps, x.dtype(), opt);
    const uint32_t wg = detail::workgroup_size(impl.caps);
    struct Push {
        uint32_t n, groups;
    };
    const uint32_t n = static_cast<uint32_t>(x.numel());
    const uint64_t groups = std::min(kMaxPartials, detail::ceil_div(detail::ceil_div(n, 2), wg));
    Tensor partials = Tensor::empty(ctx, {static_cast<int64_t>(groups)}, DType::f32);
    cl.keep_alive(partials);

    const auto& first = impl.pipelines->get(
        {detail::module_name("reduce_sum", v), 2, sizeof(Push), wg, {{1, squares ? 1u : 0u}}});
    const auto& second = impl.pipelines->get({"reduce_sum.f32", 2, sizeof(Push), wg, {}});
    const detail::BufferAccess pass1[] = {detail::read(x), detail::write(partials)};
    const Push push1{n, static_cast<uint32_t>(groups)};
    cl.dispatch(first, pass1, &push1, sizeof(push1), groups, "sum.partials." + std::string(to_string(v)));
    const Push push2{static_cast<uint32_t>(groups), 1};
    const detail::BufferAccess pass2[] = {detail::read(partials), detail::write(out)};
    cl.dispatch(second, pass2, &push2, sizeof(push2), 1, "sum.final");
}

} // namespace detail

void sum(Context& ctx, const Tensor& x, Tensor& out, OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_sum(cl, ctx, x, out, opt);
    cl.submit_and_wait();
}

float sum(Context& ctx, const Tensor& x, OpOptions opt) {
    Tensor out = Tensor::empty(ctx, {1}, DType::f32);
    sum(ctx, x, out, opt);
    return out.to_floats()[0];
}

} // namespace vkhalf
