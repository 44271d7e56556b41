// Host side of gather_batch.comp, softmax_xent.comp, check_finite.comp, optimizer_step.comp and
// scale_update.comp.
#include "kernels/training_ops.hpp"

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

TrainState initial_state(const LossScaleOptions& o) {
    TrainState s{};
    const double scale = o.mode == LossScaleMode::none ? 1.0 : o.init_scale;
    if (!(scale > 0.0) || scale > 3.0e38) throw Error("loss scale must be positive and finite, got " + std::to_string(scale));
    if (o.mode == LossScaleMode::dynamic && !(o.min_scale > 0.0f && o.min_scale <= 3.0e38f))
        throw Error("minimum loss scale must be positive and finite, got " + std::to_string(o.min_scale));
    s.scale = static_cast<float>(scale);
    s.inv_scale = static_cast<float>(1.0 / double(s.scale));  // GradScaler: float(1/double(S))
    return s;
}

Tensor state_tensor(Context& ctx, const TrainState& s) {
    Tensor t = Tensor::empty(ctx, {kTrainStateWords}, DType::u32);
    t.upload_bytes(std::as_bytes(std::span(&s, 1)));
    return t;
}

TrainState read_state(const Tensor& t) {
    TrainState s{};
    t.download_bytes(std::as_writable_bytes(std::span(&s, 1)));
    return s;
}

void record_gather(CommandList& cl, ContextImpl& ctx, const DeviceDataset& data, const Tensor& order, Tensor& state,
                   const GatherParams& params, Tensor& x, Tensor& labels) {
    check_train_state("gather", state);
    GatherParams p = params;
    if (p.stride == 0) p.stride = p.batch;
    if (x.shape() != Shape{p.batch, p.features} || labels.shape() != Shape{p.batch} || labels.dtype() != DType::u32)
        throw ShapeError("gather: x must be [" + std::to_string(p.batch) + ", " + std::to_string(p.features) +
                         "] and labels u32 [" + std::to_string(p.batch) + "]");
    if (p.steps_per_epoch == 0 || p.stride < p.batch ||
        uint64_t(p.first) + uint64_t(p.steps_per_epoch - 1) * p.stride + p.batch > uint64_t(order.numel()))
        throw ShapeError("gather: " + std::to_string(p.steps_per_epoch) + " batches of " + std::to_string(p.batch) +
                         " every " + std::to_string(p.stride) + " from " + std::to_string(p.first) + " exceed the " +
                         std::to_string(order.numel()) + " examples");
    if ((p.shift != 0 || p.flip != 0) &&
        (uint64_t(p.rows) * p.cols != p.features || p.flip > 1 || p.shift >= std::min(p.rows, p.cols)))
        throw ShapeError("gather: augmentation needs images of rows x cols = " + std::to_string(p.features) +
                          " features and a shift below both, got " + std::to_string(p.rows) + " x " +
                          std::to_string(p.cols) + ", shift " + std::to_string(p.shift));
    const Variant v = resolve_variant("gather", ctx.caps, x.dtype(), {});
    const uint32_t wg = workgroup_size(ctx.caps);
    const auto& pipe = ctx.pipelines->get({module_name("gather_batch", v), 6, sizeof(GatherParams), wg, {}});
    const BufferAccess b[] = {read(data.pixels), read(data.labels), read(order), write(x), read(state), write(labels)};
    const uint64_t pairs = ceil_div(uint64_t(p.batch) * p.features, 2);
    cl.dispatch(pipe, b, &p, sizeof(p), ceil_div(pairs, wg), "gather_batch");
}

void record_gather_windows(CommandList& cl, ContextImpl& ctx, const Tensor& tokens, Tensor& state,
                           const WindowParams& p, Tensor& x, Tensor& y) {
    check_train_state("gather_windows", state);
    const Shape want{p.batch, p.block};
    if (tokens.dtype() != DType::u32 || tokens.shape().size() != 1)
        throw DTypeError("gather_windows: the token stream must be a 1-D u32 tensor, got " + to_string(tokens.shape()) +
                         " " + std::string(to_string(tokens.dtype())));
    if (x.shape() != want || y.shape() != want || x.dtype() != DType::u32 || y.dtype() != DType::u32)
        throw ShapeError("gather_windows: x and y must be u32 " + to_string(want));
    if (p.block == 0 || p.batch == 0 || uint64_t(tokens.numel()) <= uint64_t(p.block))
        throw ShapeError("gather_windows: a stream of " + std::to_string(tokens.numel()) +
                         " tokens has no window of " + std::to_string(p.block) + " plus its next token");
    if (uint64_t(tokens.numel()) > 0xffffffffu) throw LimitError("gather_windows: more than 2^32 tokens");
    struct Push {
        uint32_t batch, block, count, first, seed;
    } push{p.batch, p.block, uint32_t(tokens.numel()), p.first, p.seed};
    const uint32_t wg = workgroup_size(ctx.caps);
    const auto& pipe = ctx.pipelines->get({"gather_windows.f32", 4, sizeof(Push), wg, {}});
    const BufferAccess b[] = {read(tokens), write(x), write(y), read(state)};
    cl.dispatch(pipe, b, &push, sizeof(push), ceil_div(uint64_t(p.batch) * p.block, wg), "gather_windows");
}

void record_softmax_xent(CommandList& cl, ContextImpl& ctx, const Tensor& logits, const Tensor& labels, Tensor& state,
                         Tensor& dz, bool with_grad, float label_smoothing, uint32_t mean_over,
                         uint32_t ignore_index) {
    check_train_state("softmax_xent", state);
    if (ignore_index != kNoIgnoreIndex && mean_over != 0)
        throw UnsupportedError("softmax_xent: an ignore index averages over the rows it keeps, so it cannot "
                               "average over a given count (data parallel)");
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        throw Error("softmax_xent: label smoothing must be in [0, 1], got " + std::to_string(label_smoothing));
    if (logits.shape().size() != 2 || labels.shape() != Shape{logits.shape()[0]} || labels.dtype() != DType::u32)
        throw ShapeError("softmax_xent: logits must be [batch, classes] and labels u32 [batch], got " +
                         to_string(logits.shape()) + " and " + to_string(labels.shape()));
    check_same_shape("softmax_xent", logits, dz);
    check_same_dtype("softmax_xent", logits, dz);
    const Variant v = resolve_variant("softmax_xent", ctx.caps, logits.dtype(), {});
    const uint32_t wg = workgroup_size(ctx.caps);
    struct Push {
        uint32_t batch, classes;
        float smoothing;
        uint32_t mean_over;
        uint32_t ignore;
    } push{uint32_t(logits.shape()[0]), uint32_t(logits.shape()[1]), label_smoothing,
           mean_over ? mean_over : uint32_t(logits.shape()[0]), ignore_index};
    const auto& pipe = ctx.pipelines->get({module_name("softmax_xent", v), 4, sizeof(Push), wg,
                                           {{1, with_grad ? 1u : 0u}}});
    const BufferAccess b[] = {read(logits), read(labels), write(dz), read_write(state)};  // dz: writable binding
    cl.dispatch(pipe, b, &push, sizeof(push), 1, "softmax_xent");
}

void record_check_finite(CommandList& cl, ContextImpl& ctx, const Tensor& grads, Tensor& state) {
    check_train_state("check_finite", state);
    if (grads.dtype() == DType::u32 || (grads.dtype() == DType::f16 && grads.numel() % 2))
        throw ShapeError("check_finite: gradients must be f32, or f16 with an even element count");
    const uint32_t wg = workgroup_size(ctx.caps);
    const auto& pipe = ctx.pipelines->get({"check_finite.f32", 2, sizeof(uint32_t), wg,
                                           {{1, grads.dtype() == DType::f32 ? 1u : 0u}}});
    const uint32_t words = static_cast<uint32_t>(grads.bytes() / 4);
    const BufferAccess b[] = {read(grads), read_write(state)};
    cl.dispatch(pipe, b, &words, sizeof(words), ceil_div(words, wg), "check_finite");
}

void record_optimizer_step(CommandList& cl, Context& context, const OptimizerOptions& o, const Tensor& grads,
                           Tensor& master, Tensor& moment1, Tensor& moment2, Tensor& work, Tensor& state,
                           const Tensor* shared_norm_sq) {
    ContextImpl& ctx = context.impl();
    check_train_state("optimizer_step", state);
    const int64_t n = master.numel();
    if (n % 2 || grads.numel() != n || moment1.numel() != n || moment2.numel() != n || work.numel() != n ||
        master.dtype() != DType::f32 || moment1.dtype() != DType::f32 || moment2.dtype() != DType::f32 ||
        grads.dtype() != work.dtype() || grads.dtype() == DType::u32)
        throw ShapeError("optimizer_step: flat buffers must have one even length; master and moments f32, gradient "
                         "and working copy of one dtype");
    struct Push {
        uint32_t n;
        float lr, beta1, beta2, eps, weight_decay, momentum, dampening;
        uint32_t warmup_steps, step_size;
        float gamma, max_norm;
    } push{uint32_t(n), o.lr,           o.beta1,     o.beta2, o.eps,   o.weight_decay,
           o.momentum,  o.dampening,    o.warmup_steps, o.step_size, o.gamma, o.clip_norm};
    const bool clip = o.clip_norm > 0.0f;
    Tensor norm_sq = shared_norm_sq ? *shared_norm_sq : Tensor::empty(context, {1}, DType::f32);
    if (clip && !shared_norm_sq) record_sum(cl, context, grads, norm_sq, {}, true);  // of the scaled gradients
    cl.keep_alive(norm_sq);
    const uint32_t algo = o.kind == OptimizerKind::sgd ? 0u : o.kind == OptimizerKind::adam ? 1u : 2u;
    const uint32_t wg = workgroup_size(ctx.caps);
    const auto& pipe = ctx.pipelines->get({"optimizer_step.f32", 7, sizeof(Push), wg,
                                           {{1, algo},
                                            {2, grads.dtype() == DType::f32 ? 1u : 0u},
                                            {3, o.nesterov ? 1u : 0u},
                                            {4, static_cast<uint32_t>(o.schedule)},
                                            {5, clip ? 1u : 0u}}});
    // The state is written too: FAULT_WEIGHTS when an update is refused.
    const BufferAccess b[] = {read(grads), read_write(master), read_write(moment1), read_write(moment2), write(work),
                              read_write(state), read(norm_sq)};
    cl.dispatch(pipe, b, &push, sizeof(push), ceil_div(uint64_t(n) / 2, wg), "optimizer_step");
}

void record_scale_update(CommandList& cl, ContextImpl& ctx, const LossScaleOptions& o, Tensor& state) {
    check_train_state("scale_update", state);
    struct Push {
        float growth, backoff, inv_growth, inv_backoff;
        uint32_t interval;
        float min_scale, inv_min_scale;
    } push{o.growth_factor, o.backoff_factor, float(1.0 / double(o.growth_factor)),
           float(1.0 / double(o.backoff_factor)), o.growth_interval, o.min_scale, float(1.0 / double(o.min_scale))};
    const auto& pipe = ctx.pipelines->get({"scale_update.f32", 1, sizeof(Push), 1,
                                           {{1, o.mode == LossScaleMode::dynamic ? 1u : 0u}}});
    const BufferAccess b[] = {read_write(state)};
    cl.dispatch(pipe, b, &push, sizeof(push), 1, "scale_update");
}

} // namespace vkhalf::detail
