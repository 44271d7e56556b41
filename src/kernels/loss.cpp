// Host side of shaders/mse_loss.comp (the fused softmax cross-entropy lives with the training
// step: src/kernels/training_ops.cpp).
#include <limits>

#include "kernels/record.hpp"
#include "kernels/train_state.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

namespace detail {

void record_mse_loss(CommandList& cl, Context& context, const Tensor& y, const Tensor& target, Tensor& loss, Tensor* dy,
                     float scale, const OpOptions& opt, Tensor* state, uint32_t mean_over) {
    ContextImpl& ctx = context.impl();
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
    if (y.numel() == 0) throw ShapeError("mse_loss: y is empty");
    // Rows along the last axis: the state's metrics count them.
    const int64_t cols = y.shape().empty() ? 1 : y.shape().back(), rows = y.numel() / cols;
    if (state) {
        check_train_state("mse_loss", *state);
        if (mean_over != 0 && int64_t(mean_over) < rows)
            throw ShapeError("mse_loss: the gradient's mean over " + std::to_string(mean_over) +
                             " rows is over fewer than y's " + std::to_string(rows));
        if (int64_t(mean_over) * cols > std::numeric_limits<int32_t>::max())
            throw LimitError("mse_loss: the mean is over more than 2^31 elements");
    }
    const Variant v = resolve_variant("mse_loss", ctx.caps, y.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const auto& pipe = ctx.pipelines->get(
        {module_name("mse_loss", v), 5, sizeof(uint32_t) * 4, wg, {{1, dy ? 1u : 0u}, {2, state ? 1u : 0u}}});
    struct Push {
        uint32_t n;
        float scale;
        uint32_t cols, mean_over;
    } push{uint32_t(y.numel()), scale, uint32_t(cols),
           uint32_t((state && mean_over ? int64_t(mean_over) : rows) * cols)};
    // Without a gradient, binding 2 (read-write in the shader, unwritten) gets the loss: binding y
    // there would make the validation layer count a write to y. Without a state, binding 4 gets a
    // scratch of the state's size, never touched.
    Tensor unused_state;
    if (!state) {
        unused_state = Tensor::empty(context, {kTrainStateWords}, DType::u32);
        cl.keep_alive(unused_state);
    }
    const BufferAccess b[] = {read(y), read(target), dy ? write(*dy) : write(loss), write(loss),
                              write(state ? *state : unused_state)};
    cl.dispatch(pipe, b, &push, sizeof(push), 1, "mse_loss");
}

} // namespace detail

void mse_loss(Context& ctx, const Tensor& y, const Tensor& target, Tensor& loss, Tensor* dy, float scale, OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_mse_loss(cl, ctx, y, target, loss, dy, scale, opt);
    cl.submit_and_wait();
}

} // namespace vkhalf
