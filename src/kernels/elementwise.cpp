// Host side of shaders/elementwise.comp: add, mul, scale, relu, relu_backward, div.
#include <cstdint>
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {
namespace detail {

namespace {

constexpr const char* op_name(ElementwiseOp op) {
    switch (op) {
    case ElementwiseOp::add: return "add";
    case ElementwiseOp::mul: return "mul";
    case ElementwiseOp::scale: return "scale";
    case ElementwiseOp::relu: return "relu";
    case ElementwiseOp::relu_backward: return "relu_backward";
    case ElementwiseOp::div: return "div";
    }
    return "?";
}

struct ElementwisePush {
    uint32_t n;
    float alpha;
};

} // namespace

void record_elementwise(CommandList& cl, ContextImpl& ctx, ElementwiseOp op, const Tensor& a, const Tensor& b,
                        float alpha, Tensor& y, const OpOptions& opt) {
    const char* name = op_name(op);
    check_defined(name, a, "a");
    check_defined(name, b, "b");
    check_defined(name, y, "y");
    check_same_shape(name, a, b);
    check_same_shape(name, a, y);
    check_same_dtype(name, a, b);
    check_same_dtype(name, a, y);
    if (a.numel() > std::numeric_limits<int32_t>::max())
        throw LimitError(std::string(name) + ": " + std::to_string(a.numel()) + " elements exceed 2^31");
    const Variant v = resolve_variant(name, ctx.caps, a.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const Pipeline& p = ctx.pipelines->get(
        {module_name("elementwise", v), 3, sizeof(ElementwisePush), wg, {{1, static_cast<uint32_t>(op)}}});
    const ElementwisePush push{static_cast<uint32_t>(a.numel()), alpha};
    const BufferAccess buffers[] = {read(a), read(b), write(y)};
    const uint64_t pairs = ceil_div(static_cast<uint64_t>(a.numel()), 2);
    cl.dispatch(p, buffers, &push, sizeof(push), ceil_div(pairs, wg),
                std::string(name) + "." + std::string(to_string(v)));
}

} // namespace detail

} // namespace vkhalf
