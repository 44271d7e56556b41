#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>

#include "compile/program_access.hpp"
#include "kernels/record.hpp"
#include "runtime/context_impl.hpp"
#include "kernels/training_ops.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/half.hpp"
#include "vkhalf/train.hpp"

namespace vkhalf {

DeviceDataset DeviceDataset::token_stream(Context& ctx, std::span<const uint32_t> stream, int vocab, int64_t block) {
    if (vocab < 2 || block < 1 || int64_t(stream.size()) <= block)
        throw ShapeError("DeviceDataset: a token stream needs a vocabulary of at least 2 and more than one window (" +
                         std::to_string(stream.size()) + " tokens, block " + std::to_string(block) + ")");
    for (std::size_t i = 0; i < stream.size(); ++i)
        if (stream[i] >= uint32_t(vocab))
            throw ShapeError("DeviceDataset: token " + std::to_string(stream[i]) + " at " + std::to_string(i) +
                             " is not below the vocabulary of " + std::to_string(vocab));
    DeviceDataset d;
    d.count = int64_t(stream.size()) / block;
    d.features = block;
    d.classes = vocab;
    d.fingerprint = fingerprint_bytes(std::as_bytes(stream));
    d.tokens = Tensor::empty(ctx, {int64_t(stream.size())}, DType::u32);
    d.tokens.upload_bytes(std::as_bytes(stream));
    return d;
}

DeviceDataset DeviceDataset::upload(Context& ctx, std::span<const uint8_t> pixels, std::span<const uint8_t> labels,
                                    int64_t count, int64_t features, int classes) {
    if (count <= 0 || features <= 0 || classes < 2)
        throw ShapeError("DeviceDataset: need count > 0, features > 0 and at least 2 classes");
    if (int64_t(pixels.size()) != count * features || int64_t(labels.size()) != count)
        throw ShapeError("DeviceDataset: " + std::to_string(pixels.size()) + " pixels and " +
                         std::to_string(labels.size()) + " labels for " + std::to_string(count) + " examples of " +
                         std::to_string(features) + " features");
    for (std::size_t i = 0; i < labels.size(); ++i)
        if (labels[i] >= classes)
            throw ShapeError("DeviceDataset: label " + std::to_string(labels[i]) + " of example " + std::to_string(i) +
                             " is not below " + std::to_string(classes) + " classes");
    DeviceDataset d;
    d.count = count;
    d.features = features;
    d.classes = classes;
    d.fingerprint = fingerprint_bytes(std::as_bytes(labels), fingerprint_bytes(std::as_bytes(pixels)));
    std::vector<std::byte> packed((pixels.size() + 3) / 4 * 4);
    std::memcpy(packed.data(), pixels.data(), pixels.size());
    d.pixels = Tensor::empty(ctx, {int64_t(packed.size() / 4)}, DType::u32);
    d.pixels.upload_bytes(packed);
    std::vector<uint32_t> l(labels.begin(), labels.end());
    d.labels = Tensor::empty(ctx, {count}, DType::u32);
    d.labels.upload_bytes(std::as_bytes(std::span(l)));
    return d;
}

DeviceDataset DeviceDataset::upload_regression(Context& ctx, std::span<const uint8_t> pixels,
                                               std::span<const float> targets, int64_t count, int64_t features,
                                               int outputs) {
    if (count <= 0 || features <= 0 || outputs < 1)
        throw ShapeError("DeviceDataset: need count > 0, features > 0 and at least 1 output");
    if (int64_t(targets.size()) != count * outputs)
        throw ShapeError("DeviceDataset: " + std::to_string(targets.size()) + " targets for " + std::to_string(count) +
                         " examples of " + std::to_string(outputs) + " outputs");
    if (count > int64_t(0xffffffffu)) throw LimitError("DeviceDataset: more than 2^32 examples");
    for (std::size_t i = 0; i < targets.size(); ++i)
        if (!std::isfinite(targets[i]))
            throw NumericalError("DeviceDataset: target " + std::to_string(i % std::size_t(outputs)) + " of example " +
                                 std::to_string(i / std::size_t(outputs)) + " is not finite");
    // The labels gather_batch copies are each example's own index: the Trainer looks its targets up
    // with them (an embedding of the target table), so targets follow the shuffled order.
    std::vector<uint8_t> no_labels(static_cast<std::size_t>(count), 0);
    DeviceDataset d = upload(ctx, pixels, no_labels, count, features, 2);
    d.classes = outputs;
    d.fingerprint = fingerprint_bytes(std::as_bytes(targets), d.fingerprint);
    std::vector<uint32_t> index(static_cast<std::size_t>(count));
    std::iota(index.begin(), index.end(), 0u);
    d.labels.upload_bytes(std::as_bytes(std::span(index)));
    d.targets = Tensor::empty(ctx, {count, outputs}, DType::f32);
    d.targets.upload_bytes(std::as_bytes(targets));
    return d;
}

namespace {

Tensor identity_order(Context& ctx, int64_t count) {
    std::vector<uint32_t> order(static_cast<std::size_t>(count));
    std::iota(order.begin(), order.end(), 0u);
    Tensor t = Tensor::empty(ctx, {count}, DType::u32);
    t.upload_bytes(std::as_bytes(std::span(order)));
    return t;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// The gather kernel computes x = (pixel / 255 - mean) * (1 / std) in fp32 and stores it in the
// working dtype. Pixels are bytes, so checking all 256 values here (the kernel's arithmetic, in
// the same order) proves that no batch can ever hold inf or NaN.
void check_normalisation(float mean, float std, DType working) {
    if (!std::isfinite(mean) || !std::isfinite(std) || !(std > 0.0f))
        throw NumericalError("Trainer: input normalisation needs a finite mean and a positive finite std, got mean=" +
                             number(mean) + " std=" + number(std));
    const float inv_std = 1.0f / std;
    for (int p = 0; p < 256; ++p) {
        const float x = (float(p) / 255.0f - mean) * inv_std;
        const bool finite = std::isfinite(x) && (working != DType::f16 || (f32_to_f16_bits(x) & 0x7c00u) != 0x7c00u);
        if (!finite)
            throw NumericalError("Trainer: input normalisation (pixel/255 - mean) / std with mean=" + number(mean) +
                                 " std=" + number(std) + " turns pixel " + std::to_string(p) + " into " + number(x) +
                                 (working == DType::f16 ? ", inf in fp16 (largest finite 65504)" : ", not finite") +
                                 ": every batch holding it would be inf/NaN; check mean and std");
    }
}

// Empty while training can go on; otherwise why it cannot (see Trainer::metrics).
std::string numerical_fault(const detail::TrainState& s, const TrainerOptions& o) {
    if (s.faults & detail::kFaultWeights)
        return "training diverged by step " + std::to_string(s.step) + ": an optimizer update (learning rate " +
               number(o.optimizer.lr) + ") would have made a weight or its optimizer state inf/NaN" +
               (o.precision == Precision::fp16 ? " or beyond fp16's range (65504)" : "") +
               "; the update was refused and nothing non-finite was written. Lower the learning rate, clip "
               "gradients, or resume from the last checkpoint";
    if (o.max_consecutive_skips == 0 || s.consecutive_skips < o.max_consecutive_skips) return {};
    std::string why = "stopped at step " + std::to_string(s.step) + ": " + std::to_string(s.consecutive_skips) +
                      " steps in a row had inf/NaN gradients and were skipped (limit " +
                      std::to_string(o.max_consecutive_skips) + "); ";
    const LossScaleOptions& ls = o.loss_scale;
    if (ls.mode == LossScaleMode::dynamic && s.scale <= ls.min_scale)
        return why + "the loss scale is at its minimum " + number(s.scale) +
               " and steps still overflow: the model overflows whatever the scale (a diverging run, too high a "
               "learning rate, or activations beyond fp16's range)";
    return why + "loss scale " + number(s.scale) +
           (ls.mode == LossScaleMode::dynamic ? " (still backing off)" : " (not dynamic)") +
           ": the run diverged or the model overflows";
}

// Forward and loss over [first, first + batches * batch) of `data`: the evaluation program.
struct EvalPass {
    std::unique_ptr<Program> program;
    Tensor x, labels;
    uint32_t batches = 0;
};

// A dataset's targets in the working dtype, converted once (round to nearest even): the step
// looks each example's row up in this table. In fp16 a target beyond its range is refused: it
// would be inf, and every step that reads it would skip.
Tensor working_targets(Context& ctx, const DeviceDataset& d, DType working) {
    if (!d.has_targets() || working == DType::f32) return d.targets;
    Tensor t = Tensor::empty(ctx, d.targets.shape(), working);
    cast(ctx, d.targets, t);
    const std::vector<float> h = t.to_floats();
    for (std::size_t i = 0; i < h.size(); ++i)
        if (!std::isfinite(h[i]))
            throw NumericalError("Trainer: target " + std::to_string(i % std::size_t(d.classes)) + " of example " +
                                 std::to_string(i / std::size_t(d.classes)) +
                                 " is beyond fp16's range (65504); scale the targets or train in fp32");
    return t;
}

// The loss the data's kind calls for (see DeviceDataset), over the model's output: MSE against
// the rows of `targets` at the gathered example indices, or softmax cross-entropy against the
// labels (per position for tokens). mean_over: the rows of the global batch.
Value loss_for(Builder& builder, const DeviceDataset& data, const Tensor& targets, Value out, Value labels,
               const Tensor& state, float label_smoothing, uint32_t mean_over) {
    if (data.has_targets())
        return builder.mse_loss(out, builder.embedding(builder.input(targets, "targets"), labels), state, mean_over);
    return builder.softmax_cross_entropy(out, labels, state, label_smoothing, mean_over);
}

CompileOptions compile_options(const TrainerOptions& o) {
    CompileOptions c;
    c.reuse_memory = o.reuse_activation_memory;
    c.profile = o.profile;
    c.submit_per_op = o.submit_per_op;
    return c;
}

} // namespace

struct Trainer::Impl {
    Context& ctx;
    Sequential& model;
    DeviceDataset train;  // a copy: it shares, and so keeps alive, the device memory the graph reads
    Tensor targets;       // train's targets in the working dtype (MSE)
    TrainerOptions opt;
    ParameterSet params;
    Tensor state, order;
    std::vector<Tensor> xs, label_sets;  // one per micro-batch
    std::unique_ptr<Program> program;
    // Evaluation: its own state (step counter, metrics), identity order, full batches + remainder,
    // recorded for one dataset (a copy, keeping its memory alive while the graphs exist).
    DeviceDataset eval_data;
    Tensor eval_state, eval_order, eval_targets;
    EvalPass eval_full, eval_rest;
    // Data parallel: the group, this rank's share of the batch, the step's second submission
    // (check, optimizer, scale update) and host copies of the gradient for the all-reduce.
    Communicator* comm = nullptr;
    int64_t local_batch = 0;
    std::unique_ptr<detail::CommandList> update;
    std::vector<uint16_t> grad_bits;
    std::vector<float> grad_sum;

    Impl(Context& c, Sequential& m, const DeviceDataset& d, TrainerOptions o)
        : ctx(c), model(m), train(d), opt(o), comm(o.communicator) {}

    void record_step();
    void check_ranks_agree_on_setup();
    void all_reduce_gradients();
    void all_reduce(Tensor grad);
    void wait_all() {
        program->wait();
        if (update) update->wait();
    }
    EvalPass record_eval(const DeviceDataset& data, int64_t batch, uint32_t batches, uint32_t first);
};

// The step as one program: gather -> the model's forward -> softmax cross-entropy seeded with the
// loss scale -> the derived backward, gradients written into the flat gradient buffer -> (one
// process) finite check, optimizer and scale update over the trainable parameters.
void Trainer::Impl::record_step() {
    auto& impl = ctx.impl();
    const int rank = comm ? comm->rank() : 0;
    const DType wd = working_dtype(opt.precision);
    // Gradient accumulation: the batch in micro-batches, each forward followed by its own backward
    // so their activations share memory; the gradients are summed on the device (every loss averages
    // over the whole batch, so the sum is the batch's gradient) and the optimizer runs once.
    const int k = int(opt.micro_batches);
    const int64_t b = local_batch / k;
    Builder builder(ctx);
    ModelBuilder mb(builder, params, opt.precision, true);
    xs.clear();
    label_sets.clear();
    std::vector<Value> sum;
    std::vector<int> ids;
    const bool tokens = train.is_tokens();
    const auto seed = uint32_t(opt.seed ^ (opt.seed >> 32));  // the device draws' (augmentation, windows)
    for (int micro = 0; micro < k; ++micro) {
        // Images: x [b, features] normalised, labels [b]. Tokens: windows [b, block] and their next
        // tokens; the loss averages over every position of the global batch.
        xs.push_back(tokens ? Tensor::empty(ctx, {b, train.features}, DType::u32)
                            : Tensor::empty(ctx, {b, train.features}, wd));
        label_sets.push_back(tokens ? Tensor::empty(ctx, {b, train.features}, DType::u32)
                                    : Tensor::empty(ctx, {b}, DType::u32));
        const Value logits = model.forward(mb, builder.input(xs.back(), "x"));
        const Shape want = tokens ? Shape{b, train.features, train.classes} : Shape{b, train.classes};
        if (logits.shape() != want)
            throw ShapeError("Trainer: the model's output is " + to_string(logits.shape()) + ", expected " +
                             to_string(want));
        const Value loss = loss_for(builder, train, targets, logits, builder.input(label_sets.back(), "labels"), state,
                                    opt.label_smoothing, uint32_t(opt.batch * (tokens ? train.features : 1)));
        if (micro == 0) {
            for (int id : mb.used())
                if (params.infos()[std::size_t(id)].requires_grad) ids.push_back(id);
            if (ids.empty()) throw Error("Trainer: the model has no trainable parameter (all frozen?)");
        }
        std::vector<Value> wrt;
        for (int id : ids) wrt.push_back(mb.param(id));
        const std::vector<Value> grads = builder.grad(loss, wrt);
        for (std::size_t i = 0; i < grads.size(); ++i)
            if (micro == 0)
                sum.push_back(grads[i]);
            else
                sum[i] = builder.add(sum[i], grads[i]);
    }
    std::vector<Binding> outputs;
    for (std::size_t i = 0; i < sum.size(); ++i) outputs.push_back({sum[i], params.grad(ids[i])});

    detail::ProgramHooks hooks;
    hooks.before = [&](detail::CommandList& cl) {
        for (int micro = 0; micro < k; ++micro) {
            if (tokens) {  // rows of the global batch: the same windows whatever the split
                const detail::WindowParams wp{uint32_t(b), uint32_t(train.features),
                                              uint32_t(rank * local_batch + micro * b), seed};
                detail::record_gather_windows(cl, impl, train.tokens, state, wp, xs[std::size_t(micro)],
                                              label_sets[std::size_t(micro)]);
                continue;
            }
            const detail::GatherParams gp{uint32_t(b),
                                          uint32_t(train.features),
                                          uint32_t(train.count / opt.batch),
                                          uint32_t(rank * local_batch + micro * b),
                                          opt.mean,
                                          1.0f / opt.std,
                                          uint32_t(opt.batch),
                                          uint32_t(opt.augment.rows),
                                          uint32_t(opt.augment.cols),
                                          opt.augment.shift,
                                          opt.augment.flip ? 1u : 0u,
                                          seed};
            detail::record_gather(cl, impl, train, order, state, gp, xs[std::size_t(micro)],
                                  label_sets[std::size_t(micro)]);
        }
    };
    auto record_update = [this, &impl](detail::CommandList& cl) {
        // Per chunk: the finite check over its trainable part, then one optimizer dispatch per
        // parameter group (with and without weight decay). A clipped step clips every group of
        // every chunk by the norm over all of them: the chunks' squared norms, summed.
        const auto& chunks = params.chunks();
        for (const ParameterChunk& c : chunks)
            if (c.trainable_end > 0) detail::record_check_finite(cl, impl, c.grad.view(0, {c.trainable_end}), state);
        Tensor norm_sq;
        const bool grouped = chunks.size() > 1 || (chunks[0].decay_end != 0 && chunks[0].decay_end != chunks[0].trainable_end);
        if (opt.optimizer.clip_norm > 0.0f && grouped) {
            for (const ParameterChunk& c : chunks) {
                if (c.trainable_end == 0) continue;
                Tensor part = Tensor::empty(ctx, {1}, DType::f32);
                detail::record_sum(cl, ctx, c.grad.view(0, {c.trainable_end}), part, {}, true);
                cl.keep_alive(part);
                if (norm_sq.defined()) {
                    Tensor total = Tensor::empty(ctx, {1}, DType::f32);
                    detail::record_elementwise(cl, impl, detail::ElementwiseOp::add, norm_sq, part, 0.0f, total, {});
                    cl.keep_alive(total);
                    norm_sq = total;
                } else {
                    norm_sq = part;
                }
            }
        }
        for (const ParameterChunk& c : chunks) {
            const int64_t bounds[] = {0, c.decay_end, c.trainable_end};
            for (int g = 0; g < 2; ++g) {
                const int64_t begin = bounds[g], n = bounds[g + 1] - begin;
                if (n == 0) continue;
                OptimizerOptions o = opt.optimizer;
                if (g == 1) o.weight_decay = 0.0f;
                const Tensor grad = c.grad.view(begin, {n});
                Tensor master = c.master.view(begin, {n}), m1 = c.moment1.view(begin, {n}),
                       m2 = c.moment2.view(begin, {n}), work = c.work.view(begin, {n});
                detail::record_optimizer_step(cl, ctx, o, grad, master, m1, m2, work, state,
                                              norm_sq.defined() ? &norm_sq : nullptr);
            }
        }
        detail::record_scale_update(cl, impl, opt.loss_scale, state);
    };
    if (update)  // data parallel: after the all-reduce, in a submission of its own
        record_update(*update);
    else
        hooks.after = record_update;
    program = std::make_unique<Program>(
        detail::ProgramAccess::compile(builder, std::move(outputs), compile_options(opt), hooks));
}

// Model (names, shapes, layout, precision), data, and every option that shapes the step: a rank
// started with other flags or files fails here, before the first all-reduce mixes wrong values.
void Trainer::Impl::check_ranks_agree_on_setup() {
    uint64_t h = fingerprint_bytes({});
    for (const ParameterInfo& p : params.infos()) {
        h = fingerprint_bytes(std::as_bytes(std::span(p.name)), h);
        h = fingerprint_bytes(std::as_bytes(std::span(p.shape)), h);
    }
    const int64_t layout[] = {params.size(), int64_t(opt.precision)};
    check_ranks_agree(*comm, "model", fingerprint_bytes(std::as_bytes(std::span(layout)), h));
    const int64_t shape[] = {train.count, train.features, train.classes};
    check_ranks_agree(*comm, "training data", fingerprint_bytes(std::as_bytes(std::span(shape)), train.fingerprint));
    const OptimizerOptions& o = opt.optimizer;
    const LossScaleOptions& l = opt.loss_scale;
    const double settings[] = {double(opt.batch), double(opt.seed),    opt.mean,       opt.std,
                               opt.label_smoothing, double(o.kind),    o.lr,           o.beta1,
                               o.beta2,             o.eps,             o.weight_decay, o.momentum,
                               o.dampening,         double(o.nesterov), double(o.schedule), double(o.warmup_steps),
                               double(o.step_size), o.gamma,           o.clip_norm,    double(l.mode),
                               l.init_scale,        l.growth_factor,   l.backoff_factor, double(l.growth_interval),
                               double(opt.decay_vectors), double(params.trainable_size()), double(params.decay_size()),
                               double(opt.micro_batches), double(opt.augment.shift), double(opt.augment.flip)};
    check_ranks_agree(*comm, "training options (batch, seed, normalisation, optimizer, loss scale)",
                      fingerprint_bytes(std::as_bytes(std::span(settings))));
}

// Sum in fp32 over the ranks; fp16 gradients are widened exactly and the sum rounded to nearest
// even. Each rank's gradient already is its share of the global mean (the loss divides by the
// global batch), so the sum needs no further scaling.
void Trainer::Impl::all_reduce_gradients() {
    for (const ParameterChunk& c : params.chunks()) all_reduce(c.grad);
}

void Trainer::Impl::all_reduce(Tensor g) {
    grad_sum.resize(static_cast<std::size_t>(g.numel()));
    if (g.dtype() == DType::f32) {
        g.download_bytes(std::as_writable_bytes(std::span(grad_sum)));
        comm->allreduce_sum(grad_sum);
        g.upload_bytes(std::as_bytes(std::span(grad_sum)));
        return;
    }
    grad_bits.resize(grad_sum.size());
    g.download_bytes(std::as_writable_bytes(std::span(grad_bits)));
    for (std::size_t i = 0; i < grad_bits.size(); ++i) grad_sum[i] = f16_bits_to_f32(grad_bits[i]);
    comm->allreduce_sum(grad_sum);
    for (std::size_t i = 0; i < grad_bits.size(); ++i) grad_bits[i] = f32_to_f16_bits(grad_sum[i]);
    g.upload_bytes(std::as_bytes(std::span(grad_bits)));
}

EvalPass Trainer::Impl::record_eval(const DeviceDataset& data, int64_t batch, uint32_t batches, uint32_t first) {
    EvalPass pass;
    pass.batches = batches;
    if (batches == 0) return pass;
    auto& impl = ctx.impl();
    const bool tokens = data.is_tokens();
    pass.x = tokens ? Tensor::empty(ctx, {batch, data.features}, DType::u32)
                    : Tensor::empty(ctx, {batch, data.features}, working_dtype(opt.precision));
    pass.labels = tokens ? Tensor::empty(ctx, {batch, data.features}, DType::u32) : Tensor::empty(ctx, {batch}, DType::u32);
    Builder builder(ctx);
    ModelBuilder mb(builder, params, opt.precision, false);  // evaluation: dropout passes through
    const Value logits = model.forward(mb, builder.input(pass.x, "x"));
    const Value loss = loss_for(builder, data, eval_targets, logits, builder.input(pass.labels, "labels"), eval_state,
                                0.0f, 0);
    detail::ProgramHooks hooks;
    const detail::GatherParams gp{uint32_t(batch), uint32_t(data.features), batches, first, opt.mean, 1.0f / opt.std};
    // Tokens: windows drawn from the evaluation state's step, which restarts at every evaluate():
    // the same windows each time, so validation losses compare across epochs.
    const detail::WindowParams wp{uint32_t(batch), uint32_t(data.features), first, uint32_t(opt.seed) ^ 0x5eed5eedu};
    hooks.before = [&](detail::CommandList& cl) {
        if (tokens)
            detail::record_gather_windows(cl, impl, data.tokens, eval_state, wp, pass.x, pass.labels);
        else
            detail::record_gather(cl, impl, data, eval_order, eval_state, gp, pass.x, pass.labels);
    };
    hooks.after = [&](detail::CommandList& cl) {
        LossScaleOptions counter;  // advances eval_state.step only (no overflow, no scaling)
        counter.mode = LossScaleMode::none;
        detail::record_scale_update(cl, impl, counter, eval_state);
    };
    CompileOptions c = compile_options(opt);
    c.submit_per_op = false;
    pass.program = std::make_unique<Program>(detail::ProgramAccess::compile(builder, {{loss, {}}}, c, hooks));
    return pass;
}

Trainer::Trainer(Context& ctx, Sequential& model, const DeviceDataset& train, TrainerOptions options)
    : impl_(std::make_unique<Impl>(ctx, model, train, options)) {
    Impl& m = *impl_;
    if (options.batch <= 0 || options.batch > train.count)
        throw ShapeError("Trainer: batch " + std::to_string(options.batch) + " must be in [1, " +
                         std::to_string(train.count) + "]");
    if (train.is_tokens() && options.augment.enabled())
        throw ShapeError("Trainer: image augmentation (shift, flip) does not apply to a token stream");
    if (train.has_targets() && options.label_smoothing != 0.0f)
        throw Error("Trainer: label smoothing is for cross-entropy; a dataset with targets trains with MSE");
    check_normalisation(options.mean, options.std, working_dtype(options.precision));
    if (options.loss_scale.mode == LossScaleMode::dynamic && options.precision == Precision::fp16 &&
        !(options.loss_scale.min_scale <= options.loss_scale.init_scale))
        throw Error("Trainer: the minimum loss scale " + number(options.loss_scale.min_scale) +
                    " exceeds the initial scale " + number(options.loss_scale.init_scale));
    const int ranks = m.comm ? m.comm->size() : 1;
    if (options.batch % ranks)
        throw ShapeError("Trainer: the global batch " + std::to_string(options.batch) + " must be a multiple of the " +
                         std::to_string(ranks) + " ranks");
    m.local_batch = options.batch / ranks;
    if (options.micro_batches < 1 || m.local_batch % options.micro_batches)
        throw ShapeError("Trainer: " + std::to_string(options.micro_batches) + " micro-batches must divide the batch " +
                         std::to_string(m.local_batch) + (ranks > 1 ? " of each rank" : ""));
    model.register_parameters(m.params, "");
    m.params.freeze(options.freeze);
    if (!options.decay_vectors) m.params.no_decay_for_vectors();
    m.params.allocate(ctx, options.precision);
    std::mt19937_64 rng(options.seed);
    model.init_parameters(m.params, rng);
    LossScaleOptions ls = options.loss_scale;
    if (options.precision == Precision::fp32 && ls.mode == LossScaleMode::dynamic) ls.mode = LossScaleMode::none;
    m.opt.loss_scale = ls;
    m.state = detail::state_tensor(ctx, detail::initial_state(ls));
    m.order = identity_order(ctx, train.count);
    m.targets = working_targets(ctx, train, working_dtype(options.precision));
    if (m.comm) {
        m.check_ranks_agree_on_setup();
        m.update = std::make_unique<detail::CommandList>(ctx.impl(), options.profile, options.submit_per_op);
    }
    m.record_step();
    check_replicas();
}

Trainer::~Trainer() {
    if (impl_ && impl_->program) {
        try {
            impl_->wait_all();
        } catch (...) {  // a lost device: nothing left to wait for
        }
    }
}

int64_t Trainer::steps_per_epoch() const { return impl_->train.count / impl_->opt.batch; }

void Trainer::shuffle(uint64_t epoch) {
    Impl& m = *impl_;
    m.wait_all();
    std::vector<uint32_t> order(static_cast<std::size_t>(m.train.count));
    std::iota(order.begin(), order.end(), 0u);
    std::mt19937_64 rng(m.opt.seed * 0x9e3779b97f4a7c15ull + epoch + 1);
    std::shuffle(order.begin(), order.end(), rng);
    m.order.upload_bytes(std::as_bytes(std::span(order)));
}

void Trainer::step() {
    Impl& m = *impl_;
    if (!m.update) {
        m.program->run();
        return;
    }
    m.update->wait();  // the previous step's optimizer writes the weights this forward reads
    m.program->run_and_wait();
    m.all_reduce_gradients();
    m.update->submit();
}

void Trainer::wait() { impl_->wait_all(); }

Metrics Trainer::metrics(bool reset) {
    Impl& m = *impl_;
    m.wait_all();
    detail::TrainState s = detail::read_state(m.state);
    if (const std::string fault = numerical_fault(s, m.opt); !fault.empty()) throw NumericalError(fault);
    Metrics out{s.loss_sum, s.correct, s.seen, s.scale, s.skipped, s.consecutive_skips, s.step, s.optimizer_step};
    if (m.comm) {
        double sums[] = {out.loss_sum, double(out.correct), double(out.seen)};
        m.comm->allreduce_sum(sums);
        out.loss_sum = sums[0];
        out.correct = uint64_t(sums[1]);
        out.seen = uint64_t(sums[2]);
    }
    if (reset) {
        s.loss_sum = 0;
        s.correct = s.seen = 0;
        m.state.upload_bytes(std::as_bytes(std::span(&s, 1)));
    }
    return out;
}

Metrics Trainer::evaluate(const DeviceDataset& data) {
    Impl& m = *impl_;
    m.wait_all();
    const int64_t batch = std::min<int64_t>(m.opt.batch, data.count);
    if (data.has_targets() != m.train.has_targets() || data.classes != m.train.classes)
        throw ShapeError(std::string("Trainer::evaluate: the data must be of the training data's kind (") +
                         (m.train.has_targets() ? "targets" : "labels") + ", " + std::to_string(m.train.classes) +
                         (m.train.has_targets() ? " outputs" : " classes") + ")");
    const bool same =
        m.eval_data.count == data.count && m.eval_data.is_tokens() == data.is_tokens() &&
        (!data.has_targets() ||
         (m.eval_data.has_targets() && &m.eval_data.targets.allocation() == &data.targets.allocation())) &&
        (data.is_tokens() ? &m.eval_data.tokens.allocation() == &data.tokens.allocation()
                          : m.eval_data.pixels.defined() && &m.eval_data.pixels.allocation() == &data.pixels.allocation() &&
                                &m.eval_data.labels.allocation() == &data.labels.allocation());
    if (!same) {
        m.eval_full = {};
        m.eval_rest = {};
        m.eval_data = data;
        m.eval_state = detail::state_tensor(m.ctx, detail::initial_state({LossScaleMode::none}));
        m.eval_order = identity_order(m.ctx, data.count);
        m.eval_targets = working_targets(m.ctx, data, working_dtype(m.opt.precision));
        const auto full = uint32_t(data.count / batch);
        m.eval_full = m.record_eval(m.eval_data, batch, full, 0);
        if (const int64_t rest = data.count - int64_t(full) * batch; rest > 0)
            m.eval_rest = m.record_eval(m.eval_data, rest, 1, uint32_t(int64_t(full) * batch));
    }
    const detail::TrainState fresh = detail::initial_state({LossScaleMode::none});
    m.eval_state.upload_bytes(std::as_bytes(std::span(&fresh, 1)));
    for (uint32_t i = 0; i < m.eval_full.batches; ++i) m.eval_full.program->run();
    if (m.eval_full.program) m.eval_full.program->wait();
    if (m.eval_rest.program) m.eval_rest.program->run_and_wait();
    const detail::TrainState s = detail::read_state(m.eval_state);
    return {s.loss_sum, s.correct, s.seen, 1.0f, 0, 0, 0, 0};
}

void Trainer::check_replicas() {
    Impl& m = *impl_;
    if (!m.comm) return;
    m.wait_all();
    uint64_t h = fingerprint_bytes({});
    std::vector<std::byte> bytes;
    for (const ParameterChunk& c : m.params.chunks())
        for (const Tensor* t : {&c.master, &c.moment1, &c.moment2}) {
            bytes.resize(t->bytes());
            t->download_bytes(bytes);
            h = fingerprint_bytes(bytes, h);
        }
    const TrainingState s = training_state();
    const double state[] = {s.loss_scale, double(s.growth_tracker), double(s.step), double(s.optimizer_step),
                            double(s.skipped)};
    check_ranks_agree(*m.comm, "master weights, optimizer moments and training state",
                      fingerprint_bytes(std::as_bytes(std::span(state)), h));
}

TrainingState Trainer::training_state() {
    impl_->wait_all();
    const detail::TrainState s = detail::read_state(impl_->state);
    if (s.faults & detail::kFaultWeights) throw NumericalError(numerical_fault(s, impl_->opt));
    return {s.scale, s.growth_tracker, s.step, s.optimizer_step, s.skipped};
}

void Trainer::restore(const TrainingState& t) {
    Impl& m = *impl_;
    m.wait_all();
    LossScaleOptions ls = m.opt.loss_scale;
    ls.init_scale = t.loss_scale;
    detail::TrainState s = detail::initial_state(ls);  // validates the scale, derives 1/S
    s.growth_tracker = t.growth_tracker;
    s.step = t.step;
    s.optimizer_step = t.optimizer_step;
    s.skipped = t.skipped;
    m.state.upload_bytes(std::as_bytes(std::span(&s, 1)));
}

ParameterSet& Trainer::parameters() { return impl_->params; }

std::vector<std::pair<std::string, Tensor>> Trainer::state_tensors() {
    std::vector<std::pair<std::string, Tensor>> out;
    impl_->model.state_tensors(out);
    return out;
}
Program& Trainer::program() { return *impl_->program; }
Tensor& Trainer::state() { return impl_->state; }
const TrainerOptions& Trainer::options() const { return impl_->opt; }

} // namespace vkhalf
