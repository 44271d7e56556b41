// Host side of shaders/activation.comp: GELU, tanh, sigmoid, forward and backward.
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/activations_record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {
namespace detail {

namespace {

constexpr uint32_t func_id(Activation f) {
    switch (f) {
    case Activation::gelu: return 0;
    case Activation::tanh: return 1;
    case Activation::sigmoid: return 2;
    case Activation::gelu_tanh: return 3;
    }
    return 0;
}

std::string op_name(Activation f, bool backward) {
    std::string name = f == Activation::gelu        ? "gelu"
                       : f == Activation::tanh      ? "tanh"
                       : f == Activation::gelu_tanh ? "gelu_tanh"
                                                    : "sigmoid";
    return backward ? name + "_backward" : name;
}

struct ActivationPush {
    uint32_t n;
};

// a: x (forward) or dy (backward); x: the forward input (forward: x again); y: y or dx.
void record(CommandList& cl, ContextImpl& ctx, Activation f, bool backward, const Tensor& a, const Tensor& x,
            Tensor& y, const OpOptions& opt) {
    const std::string name = op_name(f, backward);
    check_defined(name, a, backward ? "dy" : "x");
    if (backward) check_defined(name, x, "x");
    check_defined(name, y, backward ? "dx" : "y");
    if (backward) {
        check_same_shape(name, a, x);
        check_same_dtype(name, a, x);
    }
    check_same_shape(name, a, y);
    check_same_dtype(name, a, y);
    if (a.numel() > std::numeric_limits<int32_t>::max())
        throw LimitError(name + ": " + std::to_string(a.numel()) + " elements exceed 2^31");
    const Variant v = resolve_variant(name, ctx.caps, a.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const Pipeline& p = ctx.pipelines->get({module_name("activation", v), 3, sizeof(ActivationPush), wg,
                                            {{1, func_id(f)}, {2, backward ? 1u : 0u}}});
    const ActivationPush push{static_cast<uint32_t>(a.numel())};
    const BufferAccess buffers[] = {read(a), read(x), write(y)};
    const uint64_t pairs = ceil_div(static_cast<uint64_t>(a.numel()), 2);
    cl.dispatch(p, buffers, &push, sizeof(push), ceil_div(pairs, wg), name + "." + std::string(to_string(v)));
}

} // namespace

void record_activation(CommandList& cl, ContextImpl& ctx, Activation f, const Tensor& x, Tensor& y,
                       const OpOptions& opt) {
    record(cl, ctx, f, false, x, x, y, opt);
}

void record_activation_backward(CommandList& cl, ContextImpl& ctx, Activation f, const Tensor& dy, const Tensor& x,
                                Tensor& dx, const OpOptions& opt) {
    record(cl, ctx, f, true, dy, x, dx, opt);
}

} // namespace detail

} // namespace vkhalf
