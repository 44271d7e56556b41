// Host side of shaders/mse_loss.comp (the fused softmax cross-entropy lives with the training
// step: src/train/training_ops.cpp).
#include <limits>

#include "ops/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

namespace detail {

void record_mse_loss(CommandList& cl, ContextImpl& ctx, const Tensor& y, const Tensor& target, Tensor& loss, Tensor* dy,
                     float scale, const OpOptions& opt) {
    check_defined("mse_loss", y, "y");
    check_defined("mse_loss", target, "target");
    check_defined("mse_loss", loss, "loss");
    check_same_shape("mse_loss", y, target);
    check_same_dtype("mse_loss", y, target);
    if (loss.dtype() != DType::f32 || loss.numel() != 1)
        throw ShapeError("mse_loss: loss must be a 1-element f32 tensor, got " + to_string(loss.shape()) + " " +
                         std::string(to_string(loss.dtype())));
    if (dy) {
        check_same_shape("mse_loss", y, *dy);
        check_same_dtype("mse_loss", y, *dy);
    }
    if (y.numel() > std::numeric_limits<int32_t>::max()) throw LimitError("mse_loss: y exceeds 2^31 elements");
    const Variant v = resolve_variant("mse_loss", ctx.caps, y.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const auto& pipe = ctx.pipelines->get({module_name("mse_loss", v), 4, 2 * sizeof(uint32_t), wg, {{1, dy ? 1u : 0u}}});
    struct Push {
        uint32_t n;
        float scale;
    } push{uint32_t(y.numel()), scale};
    // Without a gradient, binding 2 (read-write in the shader, unwritten) gets the loss: binding y
    // there would make the validation layer count a write to y.
    const BufferAccess b[] = {read(y), read(target), dy ? write(*dy) : write(loss), write(loss)};
    cl.dispatch(pipe, b, &push, sizeof(push), 1, "mse_loss");
}

} // namespace detail

void mse_loss(Context& ctx, const Tensor& y, const Tensor& target, Tensor& loss, Tensor* dy, float scale, OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_mse_loss(cl, ctx.impl(), y, target, loss, dy, scale, opt);
    cl.submit_and_wait();
}

} // namespace vkhalf
