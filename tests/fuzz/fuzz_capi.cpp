// Fuzz target: the C API's argument validation (builders and programs included). The input is a program: each step picks an entry
// point and its arguments (handles from a small pool that also holds NULL, freed slots and handles
// of the wrong kind; shapes with zero, negative and huge dimensions; out-of-range enums; wrong
// counts). Every call must return a status, never crash, and keep the contract of vkh_last_error():
// empty after VKH_OK, a message after anything else; VKH_ERROR_INTERNAL (an exception the API did
// not classify) and any validation message are findings too. The device is the first Vulkan device
// (lavapipe here); sizes stay small so one input runs in milliseconds.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <vkhalf/vkhalf.h>

namespace {

class Program {
public:
    Program(const uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    bool done() const { return pos_ >= size_; }
    uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    // A dimension or count: mostly 1..13, sometimes 0, -1 or 2^40.
    int64_t dim() {
        const uint8_t b = byte() % 16;
        return b == 0 ? 0 : b == 1 ? -1 : b == 2 ? int64_t(1) << 40 : int64_t(b) - 2;
    }
    float value() {
        static constexpr std::array<float, 8> special = {0.0f, -1.5f, 1e30f, -1e-30f, 65504.0f, 1e9f, 0.25f, 3.0f};
        const uint8_t b = byte();
        return b < 200 ? float(b) / 50.0f - 2.0f : b < 248 ? special[b % 8] : (b & 1 ? INFINITY : NAN);
    }

private:
    const uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// VKHALF_FUZZ_TRACE=1 prints every call and its status: the sequence that led to a finding.
const bool trace = [] {
    const char* v = std::getenv("VKHALF_FUZZ_TRACE");
    return v && std::strcmp(v, "0") != 0;
}();

void check(vkh_status s, const char* what) {
    if (trace) std::fprintf(stderr, "  %s -> %d%s%s\n", what, int(s), s == VKH_OK ? "" : ": ", vkh_last_error());
    const bool has_message = vkh_last_error()[0] != '\0';
    if ((s == VKH_OK) == has_message) {
        std::fprintf(stderr, "%s: status %d with last error '%s'\n", what, int(s), vkh_last_error());
        std::abort();
    }
    if (int(s) < 0 || int(s) > int(VKH_ERROR_NUMERICAL)) std::abort();
    if (s == VKH_ERROR_INTERNAL) {  // a bug by definition: an exception the API did not classify
        std::fprintf(stderr, "%s: internal error: %s\n", what, vkh_last_error());
        std::abort();
    }
}

struct Pool {
    std::array<vkh_tensor, 4> tensors{};
    vkh_model model = nullptr;
    vkh_dataset dataset = nullptr;
    vkh_trainer trainer = nullptr;
    vkh_builder builder = nullptr;
    vkh_program program = nullptr;
    std::vector<vkh_value> values;  // of the builder (plus stale and out-of-range ones)

    // A tensor argument: one of the slots (possibly NULL), or a live handle of another kind.
    vkh_tensor tensor(Program& p, vkh_context ctx) {
        const uint8_t b = p.byte() % 6;
        if (b < 4) return tensors[b];
        return b == 4 ? reinterpret_cast<vkh_tensor>(ctx) : reinterpret_cast<vkh_tensor>(model ? (void*)model : nullptr);
    }
    void free_all() {
        for (auto& t : tensors) vkh_tensor_free(t), t = nullptr;
        vkh_trainer_free(trainer), trainer = nullptr;
        vkh_model_free(model), model = nullptr;
        vkh_dataset_free(dataset), dataset = nullptr;
        vkh_program_free(program), program = nullptr;
        vkh_builder_free(builder), builder = nullptr;
    }
    // A value argument: one the builder made, or -1, or one past its last.
    vkh_value value(Program& p) {
        const uint8_t b = p.byte();
        if (!values.empty() && b % 8 != 0) return values[b % values.size()];
        return b % 16 == 0 ? -1 : vkh_value(values.size() + 1);
    }
};

std::vector<float> values(Program& p, std::size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = p.value();
    return v;
}

// A count near the tensor's size: right most of the time, off by one otherwise.
std::size_t count_for(Program& p, vkh_tensor t) {
    int64_t n = 0;
    if (vkh_tensor_numel(t, &n) != VKH_OK) n = 4;
    const uint8_t b = p.byte() % 4;
    return std::size_t(n) + (b == 3 ? 1 : 0) - (b == 2 && n > 0 ? 1 : 0);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    // One device for the whole run, freed at exit (before LeakSanitizer looks).
    static const struct Device {
        vkh_context ctx = nullptr;
        Device() {
            // The validation layer on unless asked otherwise: a by-hand run of one input then
            // finds what CI's run found (regression-program-output-onto-its-leaf ran clean
            // without it). VKHALF_REQUIRE_VALIDATION=1 (CI) also fails when it is missing.
            setenv("VKHALF_VALIDATION", "1", 0);
            if (vkh_context_create(nullptr, &ctx) != VKH_OK) {
                std::fprintf(stderr, "fuzz_capi needs a Vulkan device: %s\n", vkh_last_error());
                std::abort();
            }
        }
        ~Device() { vkh_context_free(ctx); }
    } device;
    vkh_context ctx = device.ctx;
    Program p(data, size);
    Pool pool;
    for (int steps = 0; !p.done() && steps < 64; ++steps) {
        switch (p.byte() % 15) {
        case 0: {  // create a tensor in a slot
            const int32_t ndim = int32_t(p.byte() % 10);
            std::array<int64_t, 9> shape{};
            for (int32_t i = 0; i < ndim && i < 9; ++i) shape[std::size_t(i)] = p.dim();
            const auto dtype = static_cast<vkh_dtype>(p.byte() % 4);
            vkh_tensor& slot = pool.tensors[p.byte() % 4];
            vkh_tensor_free(slot);
            slot = nullptr;
            check(vkh_tensor_create(ctx, p.byte() % 8 ? shape.data() : nullptr, ndim, dtype, &slot), "tensor_create");
            break;
        }
        case 1: {  // upload
            vkh_tensor t = pool.tensor(p, ctx);
            const std::size_t n = count_for(p, t);
            const std::vector<float> v = values(p, n);
            const std::vector<uint32_t> u(n, 7u);
            switch (p.byte() % 3) {
            case 0: check(vkh_tensor_upload_f32(t, n ? v.data() : nullptr, n), "upload_f32"); break;
            case 1: check(vkh_tensor_upload_u32(t, n ? u.data() : nullptr, n), "upload_u32"); break;
            default: check(vkh_tensor_upload_bytes(t, n ? v.data() : nullptr, n * 2), "upload_bytes"); break;
            }
            break;
        }
        case 2: {  // download and shape queries
            vkh_tensor t = pool.tensor(p, ctx);
            const std::size_t n = count_for(p, t);
            std::vector<float> v(n + 1);
            std::array<int64_t, 8> dims{};
            int32_t ndim = 0;
            vkh_dtype dtype{};
            check(vkh_tensor_download_f32(t, v.data(), n), "download_f32");
            check(vkh_tensor_get_shape(t, dims.data(), int32_t(p.byte() % 9), &ndim), "get_shape");
            check(vkh_tensor_get_dtype(t, p.byte() % 2 ? &dtype : nullptr), "get_dtype");
            break;
        }
        case 3: {  // GEMM
            vkh_gemm_options o;
            vkh_gemm_options_init(&o);
            const uint8_t f = p.byte();
            o.trans_a = f & 1, o.trans_b = (f >> 1) & 1, o.relu = (f >> 2) & 1;
            o.bias_mode = static_cast<vkh_bias_mode>((f >> 3) % 3);
            o.bias = (f >> 5) & 1 ? pool.tensor(p, ctx) : nullptr;
            o.beta = p.value();
            vkh_tensor a = pool.tensor(p, ctx), b = pool.tensor(p, ctx), c = pool.tensor(p, ctx);
            check(vkh_gemm(ctx, a, b, c, (f & 0x40) ? nullptr : &o), "gemm");
            break;
        }
        case 4: {  // convolution and its gradients
            vkh_conv2d_params cp;
            vkh_conv2d_params_init(&cp);
            cp.stride_h = p.dim(), cp.pad_w = p.dim() - 1, cp.dil_h = p.byte() % 3;
            cp.groups = int64_t(p.byte() % 5) - 1;  // -1 (refused), 0 (one group), 1..3
            vkh_tensor x = pool.tensor(p, ctx), w = pool.tensor(p, ctx), y = pool.tensor(p, ctx);
            int64_t out[4];
            switch (p.byte() % 4) {
            case 0: check(vkh_conv2d(ctx, x, w, p.byte() % 2 ? pool.tensor(p, ctx) : nullptr, y, &cp, 1), "conv2d"); break;
            case 1: check(vkh_conv2d_backward_data(ctx, x, w, y, &cp), "conv2d_backward_data"); break;
            case 2: check(vkh_conv2d_backward_weight(ctx, x, w, y, &cp), "conv2d_backward_weight"); break;
            default: check(vkh_conv2d_output_shape(x, w, &cp, out), "conv2d_output_shape"); break;
            }
            break;
        }
        case 5: {  // activations and the loss
            const auto f = static_cast<vkh_activation>(p.byte() % 6);  // 5: not an activation
            vkh_tensor a = pool.tensor(p, ctx), b = pool.tensor(p, ctx), c = pool.tensor(p, ctx);
            switch (p.byte() % 3) {
            case 0: check(vkh_activation_forward(ctx, f, a, b), "activation_forward"); break;
            case 1: check(vkh_activation_backward(ctx, f, a, b, c), "activation_backward"); break;
            default: check(vkh_mse_loss(ctx, a, b, c, p.byte() % 2 ? pool.tensor(p, ctx) : nullptr, p.value()), "mse_loss");
            }
            break;
        }
        case 6:  // replay: the program (if any) run and waited for, or freed
            if (p.byte() % 3) check(vkh_program_run(pool.program), "program_run"), check(vkh_program_wait(pool.program), "program_wait");
            else vkh_program_free(pool.program), pool.program = nullptr;
            break;
        case 7: {  // model layers
            if (!pool.model) check(vkh_model_create(&pool.model), "model_create");
            const int64_t a = p.dim(), b = p.dim();
            switch (p.byte() % 10) {
            case 0: check(vkh_model_add_linear(pool.model, a, b), "add_linear"); break;
            case 8: check(vkh_model_add_embedding(pool.model, a, b), "add_embedding"); break;
            case 9:  // small: vocab, block, one or two layers, heads, width (odd head sizes refused)
                check(vkh_model_add_gpt(pool.model, a, b, p.byte() % 3, p.byte() % 3, p.byte() % 9), "add_gpt");
                break;
            case 1: check(vkh_model_add_activation(pool.model, static_cast<vkh_activation>(p.byte() % 5)), "add_activation"); break;
            case 2: check(vkh_model_add_conv2d(pool.model, a, b, p.dim(), nullptr), "add_conv2d"); break;
            case 3: check(vkh_model_add_max_pool2d(pool.model, a, b - 1), "add_max_pool2d"); break;
            case 4: check(vkh_model_add_flatten(pool.model), "add_flatten"); break;
            case 5: {
                // room for VKH_MAX_DIMS - 1 dimensions: ndim 8 is refused before the array is read
                const int64_t shape[VKH_MAX_DIMS - 1] = {a, b, p.dim(), 1, 1, 1, 1};
                check(vkh_model_add_unflatten(pool.model, shape, int32_t(p.byte() % 9)), "add_unflatten");
                break;
            }
            case 6: check(vkh_model_add_dropout(pool.model, p.value(), p.byte()), "add_dropout"); break;
            default: check(vkh_model_add_layer_norm(p.byte() % 4 ? pool.model : nullptr, a), "add_layer_norm");
            }
            break;
        }
        case 8: {  // a dataset of small random examples (labels may be out of range)
            const int64_t count = p.dim(), features = p.dim();
            const int32_t classes = int32_t(p.byte() % 5);
            // The pixel buffer always holds what count x features claims: a small dataset gets
            // its bytes; non-positive dimensions get one byte (refused before any read); larger
            // ones get NULL (refused). (A 1-byte buffer for count 1 and 64+ features once made
            // the library read past it: the harness's bug, regression-dataset-pixels-short.)
            const bool small = count > 0 && count < 64 && features > 0 && features < 64;
            const bool empty = count <= 0 || features <= 0;
            std::vector<uint8_t> pixels(small ? std::size_t(count * features) : 1, p.byte());
            std::vector<uint8_t> labels(small ? std::size_t(count) : 1);
            for (auto& l : labels) l = uint8_t(p.byte() % 6);
            vkh_dataset_free(pool.dataset);
            pool.dataset = nullptr;
            if (p.byte() % 4 == 0) {  // a token stream: count tokens below 6, vocab `classes`, block `features`
                std::vector<uint32_t> tokens(small ? std::size_t(count) : 1);
                for (auto& t : tokens) t = p.byte() % 6;
                check(vkh_dataset_create_tokens(ctx, small || empty ? tokens.data() : nullptr, count, classes, features,
                                                &pool.dataset),
                      "dataset_create_tokens");
            } else if (p.byte() % 3 == 0) {  // regression: `classes` outputs of targets (any floats, inf and NaN too)
                std::vector<float> targets = values(p, small && classes > 0 ? std::size_t(count * classes) : 1);
                check(vkh_dataset_create_regression(ctx, small || empty ? pixels.data() : nullptr, targets.data(),
                                                    count, features, classes, &pool.dataset),
                      "dataset_create_regression");
            } else if (small || empty)
                check(vkh_dataset_create(ctx, pixels.data(), labels.data(), count, features, classes, &pool.dataset),
                      "dataset_create");
            else
                check(vkh_dataset_create(ctx, nullptr, labels.data(), count, features, classes, &pool.dataset),
                      "dataset_create(NULL)");
            break;
        }
        case 9: {  // a trainer over whatever model and dataset there are
            vkh_trainer_options o;
            vkh_trainer_options_init(&o);
            o.batch = p.dim();
            o.precision = static_cast<vkh_precision>(p.byte() % 3);
            o.optimizer = static_cast<vkh_optimizer>(p.byte() % 4);
            o.loss_scale = static_cast<vkh_loss_scale_mode>(p.byte() % 4);
            o.lr = p.value();
            vkh_trainer_free(pool.trainer);
            pool.trainer = nullptr;
            check(vkh_trainer_create(ctx, pool.model, pool.dataset, &o, &pool.trainer), "trainer_create");
            break;
        }
        case 10: {  // training
            vkh_metrics m;
            switch (p.byte() % 4) {
            case 0: check(vkh_trainer_step(pool.trainer), "trainer_step"); break;
            case 1: check(vkh_trainer_metrics(pool.trainer, p.byte() % 2, p.byte() % 4 ? &m : nullptr), "trainer_metrics"); break;
            case 2: check(vkh_trainer_evaluate(pool.trainer, pool.dataset, &m), "trainer_evaluate"); break;
            default: check(vkh_trainer_shuffle(pool.trainer, p.byte()), "trainer_shuffle");
            }
            break;
        }
        case 11: {  // parameters by name and index
            static constexpr std::array<const char*, 4> names = {"0.weight", "0.bias", "1.weight", ""};
            const char* name = p.byte() % 5 ? names[p.byte() % 4] : nullptr;
            std::vector<float> v = values(p, std::size_t(p.byte()) % 40);
            char buf[16];
            int64_t numel = 0;
            check(vkh_trainer_get_parameter(pool.trainer, name, v.data(), v.size()), "get_parameter");
            check(vkh_trainer_set_parameter(pool.trainer, name, v.data(), v.size()), "set_parameter");
            check(vkh_trainer_parameter_info(pool.trainer, p.byte() % 4, buf, p.byte() % 17, &numel), "parameter_info");
            break;
        }
        case 12: {  // device queries with odd arguments
            vkh_device_info info;
            uint32_t count = 0;
            check(vkh_device_get_info(p.byte() % 3, p.byte() % 4 ? &info : nullptr), "device_get_info");
            check(vkh_device_count(p.byte() % 4 ? &count : nullptr), "device_count");
            check(vkh_context_get_info(p.byte() % 4 ? ctx : nullptr, &info), "context_get_info");
            break;
        }
        case 13: {  // graphs with derived gradients: leaves, ops by name, grad, programs
            static constexpr std::array<const char*, 10> ops = {"matmul",  "add",    "mul",      "div",  "relu",
                                                                "reshape", "conv2d", "mse_loss", "cast", "no_such_op"};
            if (!pool.builder) {
                check(vkh_builder_create(p.byte() % 4 ? ctx : nullptr, &pool.builder), "builder_create");
                pool.values.clear();
                break;
            }
            vkh_value out = -1;
            switch (p.byte() % 5) {
            case 0: {
                const vkh_status s = vkh_builder_input(pool.builder, pool.tensor(p, ctx), p.byte() % 4 ? "x" : nullptr,
                                                       p.byte() % 2, &out);
                check(s, "builder_input");
                if (s == VKH_OK) pool.values.push_back(out);
                break;
            }
            case 1: {
                vkh_op_attrs attrs;
                vkh_op_attrs_init(&attrs);
                attrs.trans_a = p.byte() % 2, attrs.trans_b = p.byte() % 2;
                attrs.ndim = int32_t(p.byte() % 10) - 1;  // -1 .. 8
                for (int64_t& d : attrs.shape) d = p.dim();
                attrs.activation = static_cast<vkh_activation>(p.byte() % 5);
                attrs.dtype = static_cast<vkh_dtype>(p.byte() % 4);  // 3: not a dtype
                vkh_value in[3] = {pool.value(p), pool.value(p), pool.value(p)};
                const vkh_status s = vkh_builder_op(pool.builder, ops[p.byte() % ops.size()], in,
                                                    int32_t(p.byte() % 5) - 1, p.byte() % 4 ? &attrs : nullptr, &out);
                check(s, "builder_op");
                if (s == VKH_OK) pool.values.push_back(out);
                break;
            }
            case 2: {
                vkh_value wrt[2] = {pool.value(p), pool.value(p)}, grads[2] = {-1, -1};
                const int32_t n = int32_t(p.byte() % 4) - 1;
                const vkh_status s = vkh_builder_grad(pool.builder, pool.value(p), wrt, n, p.value(), grads);
                check(s, "builder_grad");
                if (s == VKH_OK)
                    for (int32_t i = 0; i < n; ++i) pool.values.push_back(grads[i]);
                break;
            }
            case 3: {
                vkh_value v[2] = {pool.value(p), pool.value(p)};
                vkh_tensor t[2] = {pool.tensor(p, ctx), pool.tensor(p, ctx)};
                vkh_program_free(pool.program);
                pool.program = nullptr;
                check(vkh_program_create(pool.builder, v, t, int32_t(p.byte() % 4) - 1, &pool.program), "program_create");
                break;
            }
            default:
                check(vkh_program_run(pool.program), "program_run");
                check(vkh_program_wait(pool.program), "program_wait");
            }
            break;
        }
        default: {  // free something, then use of the freed slot is NULL
            const uint8_t b = p.byte() % 8;
            if (b < 4) vkh_tensor_free(pool.tensors[b]), pool.tensors[b] = nullptr;
            else if (b == 4) vkh_model_free(pool.model), pool.model = nullptr;
            else if (b == 5) vkh_dataset_free(pool.dataset), pool.dataset = nullptr;
            else if (b == 6) vkh_trainer_free(pool.trainer), pool.trainer = nullptr;
            else if (p.byte() % 2) vkh_program_free(pool.program), pool.program = nullptr;
            else vkh_builder_free(pool.builder), pool.builder = nullptr, pool.values.clear();
        }
        }
    }
    pool.free_all();
    // With the validation layer on, no argument may get as far as an invalid Vulkan call.
    std::size_t messages = 0;
    check(vkh_context_validation_message_count(ctx, &messages), "validation_message_count");
    if (messages != 0) {
        std::fprintf(stderr, "fuzz_capi: %zu validation messages\n", messages);
        std::abort();
    }
    return 0;
}
