// C API: models, datasets and trainers.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "capi/handles.hpp"
#include "vkhalf/checkpoint.hpp"
#include "vkhalf/io.hpp"

using namespace vkhalf;
using namespace vkhalf::capi;

namespace {

// Layers can be added until a trainer has recorded the model.
Sequential& growing(vkh_model m) {
    vkh_model_s& h = handle(m, "m");
    if (h.bound) throw InvalidArgument("the model belongs to a trainer already: its layers are fixed");
    return *h.model;
}

void check_positive(int64_t v, const char* what) {
    if (v < 1) throw InvalidArgument(std::string(what) + " must be at least 1, got " + std::to_string(v));
}

TrainerOptions trainer_options(const vkh_trainer_options& o) {
    TrainerOptions t;
    if (o.precision != VKH_PRECISION_FP16 && o.precision != VKH_PRECISION_FP32)
        throw InvalidArgument("precision " + std::to_string(int(o.precision)) + " is not a vkh_precision");
    if (o.optimizer != VKH_OPTIMIZER_SGD && o.optimizer != VKH_OPTIMIZER_ADAM && o.optimizer != VKH_OPTIMIZER_ADAMW)
        throw InvalidArgument("optimizer " + std::to_string(int(o.optimizer)) + " is not a vkh_optimizer");
    if (o.loss_scale != VKH_LOSS_SCALE_DYNAMIC && o.loss_scale != VKH_LOSS_SCALE_FIXED && o.loss_scale != VKH_LOSS_SCALE_NONE)
        throw InvalidArgument("loss_scale " + std::to_string(int(o.loss_scale)) + " is not a vkh_loss_scale_mode");
    check_positive(o.batch, "batch");
    auto finite_positive = [](float v, const char* what) {
        if (!(v > 0.0f) || !std::isfinite(v)) throw InvalidArgument(std::string(what) + " must be positive and finite");
    };
    finite_positive(o.lr, "lr");
    finite_positive(o.init_scale, "init_scale");
    finite_positive(o.std, "std");
    if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1)) throw InvalidArgument("betas must be in [0, 1)");
    if (!(o.eps > 0) || !(o.weight_decay >= 0) || !(o.momentum >= 0 && o.momentum < 1) || !std::isfinite(o.mean))
        throw InvalidArgument("eps must be positive, weight_decay >= 0, momentum in [0, 1) and mean finite");
    if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1)) throw InvalidArgument("label_smoothing must be in [0, 1]");
    if (o.growth_interval < 1) throw InvalidArgument("growth_interval must be at least 1");
    finite_positive(o.min_scale, "min_scale");
    if (o.min_scale > o.init_scale) throw InvalidArgument("min_scale must not exceed init_scale");
    t.precision = o.precision == VKH_PRECISION_FP16 ? Precision::fp16 : Precision::fp32;
    t.batch = o.batch;
    t.optimizer.kind = o.optimizer == VKH_OPTIMIZER_SGD    ? OptimizerKind::sgd
                       : o.optimizer == VKH_OPTIMIZER_ADAM ? OptimizerKind::adam
                                                           : OptimizerKind::adamw;
    t.optimizer.lr = o.lr;
    t.optimizer.beta1 = o.beta1;
    t.optimizer.beta2 = o.beta2;
    t.optimizer.eps = o.eps;
    t.optimizer.weight_decay = o.weight_decay;
    t.optimizer.momentum = o.momentum;
    t.loss_scale.mode = o.loss_scale == VKH_LOSS_SCALE_DYNAMIC ? LossScaleMode::dynamic
                        : o.loss_scale == VKH_LOSS_SCALE_FIXED ? LossScaleMode::fixed
                                                               : LossScaleMode::none;
    t.loss_scale.init_scale = o.init_scale;
    t.loss_scale.growth_interval = o.growth_interval;
    t.loss_scale.min_scale = o.min_scale;
    t.max_consecutive_skips = o.max_consecutive_skips;
    t.mean = o.mean;
    t.std = o.std;
    t.label_smoothing = o.label_smoothing;
    t.seed = o.seed;
    return t;
}

void fill_metrics(vkh_metrics& out, const Metrics& m) {
    out = vkh_metrics{};
    out.loss_sum = m.loss_sum;
    out.mean_loss = m.mean_loss();
    out.accuracy = m.accuracy();
    out.correct = m.correct;
    out.seen = m.seen;
    out.loss_scale = m.loss_scale;
    out.skipped = m.skipped;
    out.consecutive_skips = m.consecutive_skips;
    out.step = m.step;
    out.optimizer_step = m.optimizer_step;
}

int parameter_id(Trainer& tr, const char* name, std::size_t count) {
    non_null(name, "name");
    const auto& infos = tr.parameters().infos();
    for (std::size_t i = 0; i < infos.size(); ++i) {
        if (infos[i].name != name) continue;
        if (count != std::size_t(numel(infos[i].shape)))
            throw ShapeError(std::to_string(count) + " values for parameter '" + name + "' of shape " +
                             to_string(infos[i].shape));
        return int(i);
    }
    throw InvalidArgument(std::string("the model has no parameter '") + name + "'");
}

// A dataset handle on ctx holding what make(context) uploads (make checks its arguments first).
template <typename Make>
vkh_status create_dataset(const char* fn, vkh_context ctx, vkh_dataset* out, Make&& make) {
    return guard(fn, [&] {
        auto h = std::make_unique<vkh_dataset_s>();
        h->ctx = handle(ctx, "ctx").ctx;
        non_null(out, "out");
        h->data = make(*h->ctx);
        *out = h.release();
    });
}

const char* non_empty(const char* s, const char* arg) {
    if (!non_null(s, arg)[0]) throw InvalidArgument(std::string(arg) + " is empty");
    return s;
}

} // namespace

extern "C" {

vkh_status vkh_model_create(vkh_model* out) {
    return guard("vkh_model_create", [&] { *non_null(out, "out") = std::make_unique<vkh_model_s>().release(); });
}

void vkh_model_free(vkh_model m) { release(m); }

vkh_status vkh_model_freeze(vkh_model m, const char* prefix) {
    return guard("vkh_model_freeze", [&] {
        vkh_model_s& h = handle(m, "m");
        if (h.bound) throw InvalidArgument("the model belongs to a trainer already; freeze before vkh_trainer_create");
        h.frozen.emplace_back(non_null(prefix, "prefix"));
    });
}

vkh_status vkh_model_add_linear(vkh_model m, int64_t in_features, int64_t out_features) {
    return guard("vkh_model_add_linear", [&] {
        Sequential& s = growing(m);
        check_positive(in_features, "in_features");
        check_positive(out_features, "out_features");
        s.emplace<Linear>(in_features, out_features);
    });
}

vkh_status vkh_model_add_conv2d(vkh_model m, int64_t in_channels, int64_t out_channels, int64_t kernel,
                                const vkh_conv2d_params* params) {
    return guard("vkh_model_add_conv2d", [&] {
        Sequential& s = growing(m);
        check_positive(in_channels, "in_channels");
        check_positive(out_channels, "out_channels");
        check_positive(kernel, "kernel");
        s.emplace<Conv2d>(in_channels, out_channels, kernel, conv2d_params(params));
    });
}

vkh_status vkh_model_add_activation(vkh_model m, vkh_activation f) {
    return guard("vkh_model_add_activation", [&] {
        Sequential& s = growing(m);
        switch (f) {
        case VKH_RELU: s.emplace<ReLU>(); break;
        case VKH_GELU: s.emplace<GELU>(); break;
        case VKH_TANH: s.emplace<Tanh>(); break;
        case VKH_SIGMOID: s.emplace<Sigmoid>(); break;
        default: throw InvalidArgument("activation " + std::to_string(int(f)) + " is not a vkh_activation");
        }
    });
}

vkh_status vkh_model_add_max_pool2d(vkh_model m, int64_t kernel, int64_t stride) {
    return guard("vkh_model_add_max_pool2d", [&] {
        Sequential& s = growing(m);
        check_positive(kernel, "kernel");
        if (stride < 0) throw InvalidArgument("stride must be >= 0 (0: the kernel size)");
        s.emplace<MaxPool2d>(kernel, stride);
    });
}

vkh_status vkh_model_add_batch_norm2d(vkh_model m, int64_t channels) {
    return guard("vkh_model_add_batch_norm2d", [&] {
        Sequential& s = growing(m);
        check_positive(channels, "channels");
        s.emplace<BatchNorm2d>(channels);
    });
}

vkh_status vkh_model_add_layer_norm(vkh_model m, int64_t features) {
    return guard("vkh_model_add_layer_norm", [&] {
        Sequential& s = growing(m);
        check_positive(features, "features");
        s.emplace<LayerNorm>(features);
    });
}

vkh_status vkh_model_add_embedding(vkh_model m, int64_t num, int64_t dim) {
    return guard("vkh_model_add_embedding", [&] {
        Sequential& s = growing(m);
        check_positive(num, "num");
        check_positive(dim, "dim");
        if (num > (int64_t(1) << 40) / dim) throw InvalidArgument("num x dim is implausibly large");
        s.emplace<Embedding>(num, dim);
    });
}

vkh_status vkh_model_add_gpt(vkh_model m, int64_t vocab, int64_t block, int64_t layers, int64_t heads, int64_t embd) {
    return guard("vkh_model_add_gpt", [&] {
        Sequential& s = growing(m);
        for (auto [v, what] : {std::pair{vocab, "vocab"}, {block, "block"}, {layers, "layers"}, {heads, "heads"},
                               {embd, "embd"}})
            check_positive(v, what);
        // Each layer's largest parameter is 4 embd^2; layers are modules built here, one by one.
        if (layers > 4096 || embd > (int64_t(1) << 18) || std::max(vocab, block) > (int64_t(1) << 40) / embd)
            throw InvalidArgument("gpt: the model is implausibly large (at most 4096 layers, embd 2^18, and vocab x "
                                  "embd and block x embd 2^40)");
        if (embd % heads != 0 || (embd / heads) % 2 != 0)
            throw InvalidArgument("gpt: " + std::to_string(heads) + " heads must divide " + std::to_string(embd) +
                                  " channels into heads of an even size (the fused attention's)");
        GPTConfig c;
        c.vocab = vocab;
        c.block = block;
        c.layers = layers;
        c.heads = heads;
        c.embd = embd;
        s.emplace<GPT>(c);
    });
}

vkh_status vkh_model_add_dropout(vkh_model m, float p, uint32_t seed) {
    return guard("vkh_model_add_dropout", [&] {
        Sequential& s = growing(m);
        if (!(p >= 0.0f && p <= 1.0f)) throw InvalidArgument("dropout p must be in [0, 1]");
        s.emplace<Dropout>(p, seed);
    });
}

vkh_status vkh_model_add_flatten(vkh_model m) {
    return guard("vkh_model_add_flatten", [&] { growing(m).emplace<Flatten>(); });
}

vkh_status vkh_model_add_unflatten(vkh_model m, const int64_t* shape, int32_t ndim) {
    return guard("vkh_model_add_unflatten", [&] {
        Sequential& s = growing(m);
        if (ndim < 1 || ndim > VKH_MAX_DIMS - 1)
            throw InvalidArgument("ndim " + std::to_string(ndim) + " is not in [1, " + std::to_string(VKH_MAX_DIMS - 1) + "]");
        non_null(shape, "shape");
        for (int32_t i = 0; i < ndim; ++i) check_positive(shape[i], "every dimension");
        s.emplace<Unflatten>(Shape(shape, shape + ndim));
    });
}

vkh_status vkh_model_layer_count(vkh_model m, size_t* count) {
    return guard("vkh_model_layer_count", [&] { *non_null(count, "count") = handle(m, "m").model->size(); });
}

vkh_status vkh_dataset_create(vkh_context ctx, const uint8_t* pixels, const uint8_t* labels, int64_t count,
                              int64_t features, int32_t classes, vkh_dataset* out) {
    return create_dataset("vkh_dataset_create", ctx, out, [&](Context& c) {
        non_null(pixels, "pixels");
        non_null(labels, "labels");
        check_positive(count, "count");
        check_positive(features, "features");
        if (classes < 2) throw InvalidArgument("classes must be at least 2");
        if (count > (int64_t(1) << 40) / features) throw InvalidArgument("count x features is implausibly large");
        return DeviceDataset::upload(c, {pixels, std::size_t(count * features)}, {labels, std::size_t(count)}, count,
                                     features, classes);
    });
}

vkh_status vkh_dataset_create_regression(vkh_context ctx, const uint8_t* pixels, const float* targets, int64_t count,
                                         int64_t features, int32_t outputs, vkh_dataset* out) {
    return create_dataset("vkh_dataset_create_regression", ctx, out, [&](Context& c) {
        non_null(pixels, "pixels");
        non_null(targets, "targets");
        check_positive(count, "count");
        check_positive(features, "features");
        if (outputs < 1) throw InvalidArgument("outputs must be at least 1");
        if (count > (int64_t(1) << 40) / std::max<int64_t>(features, outputs))
            throw InvalidArgument("count x features (or outputs) is implausibly large");
        return DeviceDataset::upload_regression(c, {pixels, std::size_t(count * features)},
                                                {targets, std::size_t(count * outputs)}, count, features, outputs);
    });
}

vkh_status vkh_dataset_create_tokens(vkh_context ctx, const uint32_t* tokens, int64_t count, int32_t vocab,
                                     int64_t block, vkh_dataset* out) {
    return create_dataset("vkh_dataset_create_tokens", ctx, out, [&](Context& c) {
        non_null(tokens, "tokens");
        check_positive(count, "count");
        check_positive(block, "block");
        if (vocab < 2) throw InvalidArgument("vocab must be at least 2");
        if (count > (int64_t(1) << 32)) throw InvalidArgument("count is implausibly large (more than 2^32 tokens)");
        return DeviceDataset::token_stream(c, {tokens, std::size_t(count)}, vocab, block);
    });
}

vkh_status vkh_dataset_load_mnist(vkh_context ctx, const char* dir, const char* split, vkh_dataset* out) {
    return create_dataset("vkh_dataset_load_mnist", ctx, out, [&](Context& c) {
        const std::string s = non_empty(split, "split");
        if (s != "train" && s != "t10k") throw InvalidArgument("split must be \"train\" or \"t10k\", got \"" + s + "\"");
        const MnistSplit m = load_mnist_split(non_empty(dir, "dir"), s);
        return DeviceDataset::upload(c, m.images, m.labels, m.count, m.rows * m.cols, mnist_classes);
    });
}

void vkh_dataset_free(vkh_dataset d) { release(d); }

vkh_status vkh_dataset_size(vkh_dataset d, int64_t* count, int64_t* features) {
    return guard("vkh_dataset_size", [&] {
        const DeviceDataset& data = handle(d, "d").data;
        *non_null(count, "count") = data.count;
        *non_null(features, "features") = data.features;
    });
}

void vkh_trainer_options_init(vkh_trainer_options* o) {
    if (!o) return;
    const TrainerOptions t;
    *o = vkh_trainer_options{};
    o->precision = VKH_PRECISION_FP16;
    o->batch = t.batch;
    o->optimizer = VKH_OPTIMIZER_ADAMW;
    o->lr = t.optimizer.lr;
    o->beta1 = t.optimizer.beta1;
    o->beta2 = t.optimizer.beta2;
    o->eps = t.optimizer.eps;
    o->weight_decay = t.optimizer.weight_decay;
    o->momentum = t.optimizer.momentum;
    o->loss_scale = VKH_LOSS_SCALE_DYNAMIC;
    o->init_scale = t.loss_scale.init_scale;
    o->growth_interval = t.loss_scale.growth_interval;
    o->min_scale = t.loss_scale.min_scale;
    o->max_consecutive_skips = t.max_consecutive_skips;
    o->mean = t.mean;
    o->std = t.std;
    o->label_smoothing = t.label_smoothing;
    o->seed = t.seed;
}

vkh_status vkh_trainer_create(vkh_context ctx, vkh_model model, vkh_dataset train, const vkh_trainer_options* options,
                              vkh_trainer* out) {
    return guard("vkh_trainer_create", [&] {
        auto h = std::make_unique<vkh_trainer_s>();
        h->ctx = handle(ctx, "ctx").ctx;
        vkh_model_s& m = handle(model, "model");
        const vkh_dataset_s& d = handle(train, "train");
        non_null(out, "out");
        if (d.ctx != h->ctx) throw InvalidArgument("train belongs to another vkh_context");
        if (m.bound) throw InvalidArgument("the model belongs to a trainer already; build a new model for this one");
        if (m.model->size() == 0) throw InvalidArgument("the model has no layers");
        vkh_trainer_options defaults;
        vkh_trainer_options_init(&defaults);
        TrainerOptions o = trainer_options(options ? *options : defaults);
        o.freeze = m.frozen;
        h->model = m.model;
        h->trainer = std::make_unique<Trainer>(*h->ctx, *h->model, d.data, o);
        m.bound = true;  // only once the trainer exists: a refused model can still be changed
        *out = h.release();
    });
}

void vkh_trainer_free(vkh_trainer t) {
    if (!t || t->kind != Kind::trainer) return;
    try {
        t->trainer->wait();
    } catch (...) {  // a lost device: nothing to wait for
    }
    release(t);
}

vkh_status vkh_trainer_steps_per_epoch(vkh_trainer t, int64_t* steps) {
    return guard("vkh_trainer_steps_per_epoch",
                 [&] { *non_null(steps, "steps") = handle(t, "t").trainer->steps_per_epoch(); });
}

vkh_status vkh_trainer_shuffle(vkh_trainer t, uint64_t epoch) {
    return guard("vkh_trainer_shuffle", [&] { handle(t, "t").trainer->shuffle(epoch); });
}

vkh_status vkh_trainer_step(vkh_trainer t) {
    return guard("vkh_trainer_step", [&] { handle(t, "t").trainer->step(); });
}

vkh_status vkh_trainer_wait(vkh_trainer t) {
    return guard("vkh_trainer_wait", [&] { handle(t, "t").trainer->wait(); });
}

vkh_status vkh_trainer_metrics(vkh_trainer t, int32_t reset, vkh_metrics* out) {
    return guard("vkh_trainer_metrics", [&] {
        Trainer& tr = *handle(t, "t").trainer;
        fill_metrics(*non_null(out, "out"), tr.metrics(reset != 0));
    });
}

vkh_status vkh_trainer_evaluate(vkh_trainer t, vkh_dataset data, vkh_metrics* out) {
    return guard("vkh_trainer_evaluate", [&] {
        vkh_trainer_s& h = handle(t, "t");
        const vkh_dataset_s& d = handle(data, "data");
        non_null(out, "out");
        if (d.ctx != h.ctx) throw InvalidArgument("data belongs to another vkh_context");
        fill_metrics(*out, h.trainer->evaluate(d.data));
    });
}

vkh_status vkh_trainer_parameter_count(vkh_trainer t, size_t* count) {
    return guard("vkh_trainer_parameter_count",
                 [&] { *non_null(count, "count") = handle(t, "t").trainer->parameters().infos().size(); });
}

vkh_status vkh_trainer_parameter_info(vkh_trainer t, size_t index, char* name, size_t name_capacity, int64_t* numel_out) {
    return guard("vkh_trainer_parameter_info", [&] {
        const auto& infos = handle(t, "t").trainer->parameters().infos();
        if (index >= infos.size())
            throw InvalidArgument("parameter " + std::to_string(index) + " does not exist (" + std::to_string(infos.size()) +
                                  " parameters)");
        const ParameterInfo& p = infos[index];
        if (name) {
            if (name_capacity < p.name.size() + 1)
                throw InvalidArgument("name_capacity " + std::to_string(name_capacity) + " cannot hold '" + p.name + "'");
            std::memcpy(name, p.name.c_str(), p.name.size() + 1);
        }
        if (numel_out) *numel_out = numel(p.shape);
    });
}

vkh_status vkh_trainer_get_parameter(vkh_trainer t, const char* name, float* values, size_t count) {
    return guard("vkh_trainer_get_parameter", [&] {
        Trainer& tr = *handle(t, "t").trainer;
        const int id = parameter_id(tr, name, count);
        non_null(values, "values");
        tr.wait();
        const std::vector<float> v = tr.parameters().get_master(id);
        std::copy(v.begin(), v.end(), values);
    });
}

vkh_status vkh_trainer_set_parameter(vkh_trainer t, const char* name, const float* values, size_t count) {
    return guard("vkh_trainer_set_parameter", [&] {
        Trainer& tr = *handle(t, "t").trainer;
        const int id = parameter_id(tr, name, count);
        non_null(values, "values");
        for (std::size_t i = 0; i < count; ++i)
            if (!std::isfinite(values[i]))
                throw InvalidArgument(std::string("value ") + std::to_string(i) + " for '" + name + "' is not finite");
        tr.wait();
        tr.parameters().set(id, {values, count});
    });
}

vkh_status vkh_trainer_save_checkpoint(vkh_trainer t, const char* path) {
    return guard("vkh_trainer_save_checkpoint",
                 [&] { save_checkpoint(*handle(t, "t").trainer, non_empty(path, "path")); });
}

vkh_status vkh_trainer_load_checkpoint(vkh_trainer t, const char* path) {
    return guard("vkh_trainer_load_checkpoint",
                 [&] { load_checkpoint(*handle(t, "t").trainer, non_empty(path, "path")); });
}

vkh_status vkh_trainer_load_weights(vkh_trainer t, const char* path) {
    return guard("vkh_trainer_load_weights", [&] { load_weights(*handle(t, "t").trainer, non_empty(path, "path")); });
}

} // extern "C"
