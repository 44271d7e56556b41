/* vkhalf C API: half-precision training on Vulkan from C or any language with a C FFI.
 *
 * Conventions
 *   - Every function returns a vkh_status; VKH_OK is 0. Results come back through out-pointers,
 *     which are written only on success.
 *   - vkh_last_error() is the message of the calling thread's last vkhalf call: empty after a
 *     success, what went wrong (and where) after a failure.
 *   - Handles are opaque. Each vkh_*_free accepts NULL. A handle keeps what it needs alive: a
 *     tensor keeps its context's device, a trainer keeps its model and dataset, a program keeps its
 *     builder's graph and tensors. Freeing in any order is safe.
 *   - Every argument is checked (NULL, a handle of the wrong kind, shape and dtype mismatches)
 *     and answered with an error status: no call aborts the process.
 *   - Shapes are int64_t arrays of up to VKH_MAX_DIMS dimensions, row-major (NCHW for images).
 *   - A handle may be used from one thread at a time; different handles from different threads.
 *   - Every enum has a *_MAX_ENUM member so it is 32 bits wide in every compiler, and any int32
 *     value (an FFI may pass anything) is a value of the type that the library then refuses.
 */
#ifndef VKHALF_VKHALF_H
#define VKHALF_VKHALF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VKH_MAX_DIMS 8

typedef enum vkh_status {
    VKH_OK = 0,
    VKH_ERROR_INVALID_ARGUMENT = 1, /* NULL pointer, wrong handle kind, value out of range */
    VKH_ERROR_SHAPE = 2,            /* shapes that do not fit together */
    VKH_ERROR_DTYPE = 3,            /* a dtype the operation does not take */
    VKH_ERROR_UNSUPPORTED = 4,      /* the device lacks a feature the call needs */
    VKH_ERROR_LIMIT = 5,            /* over a device limit (buffer range, workgroups) */
    VKH_ERROR_OUT_OF_MEMORY = 6,    /* host or device memory */
    VKH_ERROR_DEVICE_LOST = 7,
    VKH_ERROR_VULKAN = 8,           /* any other Vulkan failure */
    VKH_ERROR_IO = 9,               /* missing, unreadable or corrupt file */
    VKH_ERROR_INTERNAL = 10,        /* a bug in vkhalf: please report it with the message */
    VKH_ERROR_NUMERICAL = 11,       /* training cannot go on: inf/NaN inputs, a diverged update (refused,
                                       the weights stay finite) or too many skipped steps in a row */
    VKH_STATUS_MAX_ENUM = 0x7FFFFFFF
} vkh_status;

typedef enum vkh_dtype { VKH_F32 = 0, VKH_F16 = 1, VKH_U32 = 2, VKH_DTYPE_MAX_ENUM = 0x7FFFFFFF } vkh_dtype;

typedef struct vkh_context_s* vkh_context;
typedef struct vkh_tensor_s* vkh_tensor;
typedef struct vkh_model_s* vkh_model;
typedef struct vkh_dataset_s* vkh_dataset;
typedef struct vkh_trainer_s* vkh_trainer;
typedef struct vkh_builder_s* vkh_builder;
typedef struct vkh_program_s* vkh_program;
/* A value of a builder's graph (an op's output); only meaningful with the builder that made it. */
typedef int32_t vkh_value;

/* ---- errors and version ----------------------------------------------------------------- */

const char* vkh_last_error(void);
const char* vkh_status_string(vkh_status status);
/* "0.5.0" (0.2.0 added vkh_conv2d_params.groups, 0.3.0 vkh_op_attrs.heads, 0.4.0 vkh_op_attrs.dtype:
 * rebuild against this header; 0.4.1 added vkh_dataset_create_regression, vkh_dataset_create_tokens,
 * vkh_model_add_embedding and vkh_model_add_gpt; 0.5.0 removed vkh_graph and its 12 functions).
 *
 * Moving from vkh_graph (0.4): record the same step with a builder and compile it into a program,
 * which replays it with one submission as the graph did (docs/autograd.md).
 *   vkh_graph_create(ctx, &g)                vkh_builder_create(ctx, &b); each tensor the step
 *                                            reads: vkh_builder_input / vkh_builder_parameter
 *   vkh_graph_gemm(g, a, b, c, &opts)         vkh_builder_op(b, "matmul", {a, b[, bias]}, attrs)
 *   vkh_graph_conv2d(...)                     vkh_builder_op(b, "conv2d", {x, w[, bias]}, attrs)
 *   vkh_graph_conv2d_backward_*, the          vkh_builder_grad(b, loss, wrt, ...): the backward
 *     activation backward                     products derived, not written by hand
 *   vkh_graph_activation_forward              vkh_builder_op(b, "relu" or "activation", ...)
 *   vkh_graph_mse_loss                        vkh_builder_op(b, "mse_loss", {y, target})
 *   vkh_graph_run / vkh_graph_wait            vkh_program_create(b, values, tensors, n, &p) once;
 *                                            vkh_program_run / vkh_program_wait
 *   vkh_graph_dispatch_count                  none in C (C++: Program::steps())
 * One-off products stay eager: vkh_gemm, vkh_conv2d, ... (records, submits and waits). */
const char* vkh_version_string(void);

/* ---- devices and contexts --------------------------------------------------------------- */

typedef struct vkh_device_info {
    uint32_t index;
    char name[256];
    char driver[256];
    uint32_t vendor_id, device_id, api_version;
    int32_t is_cpu;                /* lavapipe, SwiftShader */
    int32_t storage16;             /* 16-bit storage buffers (f16s / f16a tiers) */
    int32_t float16_arith;         /* fp16 arithmetic (f16a tier) */
    int32_t cooperative_matrix;    /* VK_KHR_cooperative_matrix with an fp16 x fp16 -> fp32 shape */
    uint32_t subgroup_size;
    uint64_t device_local_bytes;   /* the largest device-local heap */
    char tiers[64];                /* the tiers vkhalf can use here, e.g. "f32 f16p f16s f16a" */
} vkh_device_info;

vkh_status vkh_device_count(uint32_t* count);
vkh_status vkh_device_get_info(uint32_t index, vkh_device_info* info);

typedef enum vkh_validation {
    VKH_VALIDATION_DEFAULT = 0,    /* from the environment (VKHALF_VALIDATION, ...) */
    VKH_VALIDATION_OFF = 1,
    VKH_VALIDATION_IF_AVAILABLE = 2,
    VKH_VALIDATION_REQUIRED = 3,
    VKH_VALIDATION_MAX_ENUM = 0x7FFFFFFF
} vkh_validation;

typedef struct vkh_context_options {
    int32_t device_index;          /* -1: VKHALF_DEVICE or the first suitable device */
    const char* device_name;       /* a substring of the device name, or NULL */
    vkh_validation validation;
} vkh_context_options;

/* Sets the defaults (device_index -1, no name, validation from the environment). */
void vkh_context_options_init(vkh_context_options* options);
/* options may be NULL (the defaults). */
vkh_status vkh_context_create(const vkh_context_options* options, vkh_context* out);
void vkh_context_free(vkh_context ctx);
vkh_status vkh_context_get_info(vkh_context ctx, vkh_device_info* info);
/* Messages the validation layer has reported so far (0 when it is off). */
vkh_status vkh_context_validation_message_count(vkh_context ctx, size_t* count);

/* ---- tensors ---------------------------------------------------------------------------- */

/* Uninitialised device memory. */
vkh_status vkh_tensor_create(vkh_context ctx, const int64_t* shape, int32_t ndim, vkh_dtype dtype, vkh_tensor* out);
void vkh_tensor_free(vkh_tensor t);
vkh_status vkh_tensor_get_dtype(vkh_tensor t, vkh_dtype* dtype);
/* Writes the rank to *ndim and, when shape is not NULL, up to max_dims dimensions. */
vkh_status vkh_tensor_get_shape(vkh_tensor t, int64_t* shape, int32_t max_dims, int32_t* ndim);
vkh_status vkh_tensor_numel(vkh_tensor t, int64_t* numel);

/* count must equal the tensor's element count. f32 values are stored as they are into f32
 * tensors and rounded to nearest even into f16 tensors; u32 tensors take vkh_tensor_upload_u32. */
vkh_status vkh_tensor_upload_f32(vkh_tensor t, const float* values, size_t count);
vkh_status vkh_tensor_download_f32(vkh_tensor t, float* values, size_t count);
vkh_status vkh_tensor_upload_u32(vkh_tensor t, const uint32_t* values, size_t count);
vkh_status vkh_tensor_download_u32(vkh_tensor t, uint32_t* values, size_t count);
/* Raw bytes (fp16 as IEEE binary16 bit patterns); bytes must equal the tensor's size. */
vkh_status vkh_tensor_upload_bytes(vkh_tensor t, const void* data, size_t bytes);
vkh_status vkh_tensor_download_bytes(vkh_tensor t, void* data, size_t bytes);

/* ---- operations ------------------------------------------------------------------------- */
/* Each op here is eager (vkh_<op>(ctx, ...): records, submits and waits). To record a step once
 * and replay it, build it with vkh_builder_* and compile it into a vkh_program (below).
 * Accumulation is fp32. */

typedef enum vkh_bias_mode { VKH_BIAS_PER_COLUMN = 0, VKH_BIAS_PER_ROW = 1, VKH_BIAS_MODE_MAX_ENUM = 0x7FFFFFFF } vkh_bias_mode;

typedef struct vkh_gemm_options {
    int32_t trans_a, trans_b;      /* A is [K, M] / B is [N, K] when set */
    float alpha, beta;             /* C = alpha op(A) op(B) + beta C */
    vkh_tensor bias;               /* NULL, or [N] (per column) / [M] (per row) of A's dtype */
    vkh_bias_mode bias_mode;
    int32_t relu;                  /* apply max(0, .) last */
} vkh_gemm_options;

/* alpha 1, beta 0, nothing else. */
void vkh_gemm_options_init(vkh_gemm_options* options);

typedef struct vkh_conv2d_params {
    int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    /* Channel groups (since 0.2.0): w is [O, C / groups, KH, KW]; 0 counts as 1 (ungrouped);
       groups = C = O is depthwise. */
    int64_t groups;
} vkh_conv2d_params;

/* stride 1, no padding, dilation 1, one group. */
void vkh_conv2d_params_init(vkh_conv2d_params* params);

typedef enum vkh_activation {
    VKH_RELU = 0,
    VKH_GELU = 1,
    VKH_TANH = 2,
    VKH_SIGMOID = 3,
    VKH_GELU_TANH = 4, /* GELU's tanh approximation (GPT-2; torch's approximate="tanh"), since 0.2.0 */
    VKH_ACTIVATION_MAX_ENUM = 0x7FFFFFFF
} vkh_activation;

/* C = alpha op(A) op(B) + beta C (+ bias) (relu); A [M, K], B [K, N], C [M, N] (a leading batch
 * dimension is allowed). options may be NULL. */
vkh_status vkh_gemm(vkh_context ctx, vkh_tensor a, vkh_tensor b, vkh_tensor c, const vkh_gemm_options* options);
/* y = conv2d(x, w) (+ bias) (relu): x [N, C, H, W], w [O, C / groups, KH, KW], bias [O] or NULL.
   params may be NULL. */
vkh_status vkh_conv2d(vkh_context ctx, vkh_tensor x, vkh_tensor w, vkh_tensor bias, vkh_tensor y,
                      const vkh_conv2d_params* params, int32_t relu);
vkh_status vkh_conv2d_backward_data(vkh_context ctx, vkh_tensor dy, vkh_tensor w, vkh_tensor dx,
                                    const vkh_conv2d_params* params);
vkh_status vkh_conv2d_backward_weight(vkh_context ctx, vkh_tensor dy, vkh_tensor x, vkh_tensor dw,
                                      const vkh_conv2d_params* params);
/* y's shape for conv2d(x, w): writes ndim (4) dimensions. */
vkh_status vkh_conv2d_output_shape(vkh_tensor x, vkh_tensor w, const vkh_conv2d_params* params, int64_t out_shape[4]);
vkh_status vkh_activation_forward(vkh_context ctx, vkh_activation f, vkh_tensor x, vkh_tensor y);
/* dx = dy * f'(x), x being the forward's input */
vkh_status vkh_activation_backward(vkh_context ctx, vkh_activation f, vkh_tensor dy, vkh_tensor x, vkh_tensor dx);
/* loss (f32 [1]) = mean((y - target)^2); with dy not NULL also dy = scale * 2 (y - target) / n. */
vkh_status vkh_mse_loss(vkh_context ctx, vkh_tensor y, vkh_tensor target, vkh_tensor loss, vkh_tensor dy, float scale);

/* ---- models ----------------------------------------------------------------------------- */
/* A sequential model, named as torch.nn.Sequential names its parameters ("0.weight", ...).
 * Layers are added before the model is given to a trainer; afterwards it is fixed. */

vkh_status vkh_model_create(vkh_model* out);
void vkh_model_free(vkh_model m);
vkh_status vkh_model_add_linear(vkh_model m, int64_t in_features, int64_t out_features);
vkh_status vkh_model_add_conv2d(vkh_model m, int64_t in_channels, int64_t out_channels, int64_t kernel,
                                const vkh_conv2d_params* params);
vkh_status vkh_model_add_activation(vkh_model m, vkh_activation f);
vkh_status vkh_model_add_max_pool2d(vkh_model m, int64_t kernel, int64_t stride);
vkh_status vkh_model_add_batch_norm2d(vkh_model m, int64_t channels);
vkh_status vkh_model_add_layer_norm(vkh_model m, int64_t features);
vkh_status vkh_model_add_dropout(vkh_model m, float p, uint32_t seed);
vkh_status vkh_model_add_flatten(vkh_model m);
/* [batch, n] -> [batch, shape...] */
vkh_status vkh_model_add_unflatten(vkh_model m, const int64_t* shape, int32_t ndim);
/* Layers for token models (since 0.4.1). An embedding maps u32 tokens [..] to rows [.., dim] of a
 * [num, dim] table (a linear layer then works over the last dimension: a bigram model is an
 * embedding and a linear layer). A GPT maps tokens [batch, T <= block] to logits [batch, T,
 * vocab]: learned positions, `layers` pre-LayerNorm blocks of causal self-attention (`heads`
 * dividing `embd`, an even head size) and GELU-tanh MLPs, a head tied to the token embedding,
 * nanoGPT's names under this layer's index ("0.transformer.wte.weight", ...) and initialisation;
 * with fp16 layers the residual stream stays fp32. */
vkh_status vkh_model_add_embedding(vkh_model m, int64_t num, int64_t dim);
vkh_status vkh_model_add_gpt(vkh_model m, int64_t vocab, int64_t block, int64_t layers, int64_t heads, int64_t embd);
vkh_status vkh_model_layer_count(vkh_model m, size_t* count);
/* Fine-tuning: parameters whose state_dict names start with `prefix` (e.g. "0." for the first
 * layer) get no gradient and no optimizer update in a trainer made from this model. Call before
 * vkh_trainer_create, once per prefix; a prefix that names no parameter fails there. */
vkh_status vkh_model_freeze(vkh_model m, const char* prefix);

/* ---- models as graphs: ops, gradients, programs (docs/autograd.md) ------------------------- */
/* A builder records a graph of ops over tensors; vkh_builder_grad adds the backward; a program
 * compiles what some values need into one command buffer, replayed by vkh_program_run. The
 * builder keeps the tensors it reads alive; a program keeps its builder's graph and tensors. */
vkh_status vkh_builder_create(vkh_context ctx, vkh_builder* out);
void vkh_builder_free(vkh_builder b);
/* A tensor the graph reads: an input (data; requires_grad usually 0) or a parameter (requires_grad
 * 0 freezes it: vkh_builder_grad refuses it). */
vkh_status vkh_builder_input(vkh_builder b, vkh_tensor t, const char* name, int32_t requires_grad, vkh_value* out);
vkh_status vkh_builder_parameter(vkh_builder b, vkh_tensor t, const char* name, int32_t requires_grad,
                                 vkh_value* out);

typedef struct vkh_pool2d_params {
    int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
} vkh_pool2d_params;

typedef struct vkh_op_attrs {
    int32_t trans_a, trans_b;   /* matmul */
    float alpha;                /* scale */
    vkh_activation activation;  /* activation: VKH_GELU, VKH_TANH, VKH_SIGMOID or VKH_GELU_TANH */
    int64_t shape[VKH_MAX_DIMS];
    int32_t ndim;               /* reshape (one extent may be -1) */
    vkh_conv2d_params conv;     /* conv2d */
    vkh_pool2d_params pool;     /* avg_pool2d, max_pool2d */
    float eps;                  /* layer_norm */
    int64_t heads;              /* causal_attention (since 0.3.0) */
    vkh_dtype dtype;            /* cast: the target, VKH_F32 or VKH_F16 (since 0.4.0) */
} vkh_op_attrs;

/* No transposes, alpha 1, GELU, no shape, the default convolution, 2x2 pooling of stride 2, eps 1e-5,
 * one head, VKH_F32. */
void vkh_op_attrs_init(vkh_op_attrs* attrs);
/* out = op(inputs) for the ops of the registry, by name: "matmul" (a, b [, bias per column]),
 * "add", "mul", "div", "scale", "relu", "activation", "reshape", "conv2d" (x, w [, bias]), "avg_pool2d",
 * "max_pool2d", "layer_norm" (x, gamma, beta), "mse_loss" (y, target: a [1] f32 value), "embedding"
 * (table [V, D], u32 indices: rows [indices..., D]), "causal_attention" (qkv [n, T, 3C] -> [n, T, C],
 * attrs.heads heads; fused, see vkhalf/ops.hpp), "cast" (f32 <-> f16 to attrs.dtype; its gradient is
 * cast back).
 * attrs may be NULL. Shape and dtype errors come at once, naming the op. */
vkh_status vkh_builder_op(vkh_builder b, const char* op, const vkh_value* inputs, int32_t count,
                          const vkh_op_attrs* attrs, vkh_value* out);
/* grads[i] = d(seed * loss) / d(wrt[i]): more nodes of the graph, summed where a value fans out. */
vkh_status vkh_builder_grad(vkh_builder b, vkh_value loss, const vkh_value* wrt, int32_t count, float seed,
                            vkh_value* grads);
/* A value's shape (ndim dimensions written, at most VKH_MAX_DIMS) and dtype. */
vkh_status vkh_builder_value_shape(vkh_builder b, vkh_value v, int64_t* shape, int32_t* ndim, vkh_dtype* dtype);
/* Compiles what values[0..count) need; each is computed into tensors[i] (same shape and dtype). */
vkh_status vkh_program_create(vkh_builder b, const vkh_value* values, const vkh_tensor* tensors, int32_t count,
                              vkh_program* out);
void vkh_program_free(vkh_program p);
/* One submission, no wait. */
vkh_status vkh_program_run(vkh_program p);
vkh_status vkh_program_wait(vkh_program p);

/* ---- datasets --------------------------------------------------------------------------- */
/* Classification data held on the device: count examples of `features` bytes (0..255) and one
 * label in [0, classes) each; a trainer on it trains with softmax cross-entropy. */

vkh_status vkh_dataset_create(vkh_context ctx, const uint8_t* pixels, const uint8_t* labels, int64_t count,
                              int64_t features, int32_t classes, vkh_dataset* out);
/* Regression data: the same inputs, and `outputs` finite float targets per example (row-major,
 * count * outputs). A trainer on it trains with mean squared error; its metrics' accuracy counts the
 * rows whose largest output is where the target's largest is (one-hot targets: the accuracy).
 * VKH_ERROR_NUMERICAL names a target that is inf or NaN. Since 0.4.1. */
vkh_status vkh_dataset_create_regression(vkh_context ctx, const uint8_t* pixels, const float* targets, int64_t count,
                                         int64_t features, int32_t outputs, vkh_dataset* out);
/* A token stream for language models (since 0.4.1): `count` tokens below `vocab`; each step draws
 * windows of `block` tokens on the device and their next tokens are the labels; the model maps
 * [batch, block] tokens to [batch, block, vocab] logits and trains with the per-position
 * cross-entropy (metrics: per position). An epoch is count / block windows. VKH_ERROR_SHAPE names
 * a token >= vocab. */
vkh_status vkh_dataset_create_tokens(vkh_context ctx, const uint32_t* tokens, int64_t count, int32_t vocab,
                                     int64_t block, vkh_dataset* out);
/* <dir>/<split>-images-idx3-ubyte[.gz] and labels, split "train" or "t10k" (MNIST, Fashion-MNIST). */
vkh_status vkh_dataset_load_mnist(vkh_context ctx, const char* dir, const char* split, vkh_dataset* out);
void vkh_dataset_free(vkh_dataset d);
vkh_status vkh_dataset_size(vkh_dataset d, int64_t* count, int64_t* features);

/* ---- training --------------------------------------------------------------------------- */

typedef enum vkh_precision { VKH_PRECISION_FP16 = 0, VKH_PRECISION_FP32 = 1, VKH_PRECISION_MAX_ENUM = 0x7FFFFFFF } vkh_precision;
typedef enum vkh_optimizer {
    VKH_OPTIMIZER_SGD = 0,
    VKH_OPTIMIZER_ADAM = 1,
    VKH_OPTIMIZER_ADAMW = 2,
    VKH_OPTIMIZER_MAX_ENUM = 0x7FFFFFFF
} vkh_optimizer;
typedef enum vkh_loss_scale_mode {
    VKH_LOSS_SCALE_DYNAMIC = 0,    /* torch.amp.GradScaler's rules, on the device */
    VKH_LOSS_SCALE_FIXED = 1,
    VKH_LOSS_SCALE_NONE = 2,
    VKH_LOSS_SCALE_MAX_ENUM = 0x7FFFFFFF
} vkh_loss_scale_mode;

typedef struct vkh_trainer_options {
    vkh_precision precision;
    int64_t batch;
    vkh_optimizer optimizer;
    float lr, beta1, beta2, eps, weight_decay, momentum;
    vkh_loss_scale_mode loss_scale;
    float init_scale;
    uint32_t growth_interval;
    float min_scale;               /* the dynamic scale never goes below this */
    uint32_t max_consecutive_skips; /* vkh_trainer_metrics fails with VKH_ERROR_NUMERICAL after this
                                       many overflowed steps in a row (0: never) */
    float mean, std;               /* inputs are (pixel / 255 - mean) / std */
    float label_smoothing;
    uint64_t seed;                 /* initialisation and example order */
} vkh_trainer_options;

/* fp16, batch 128, AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01), dynamic loss
 * scale from 65536 growing every 2000 steps, never below 1, stop after 100 skipped steps in a row,
 * mean 0, std 1, seed 0. */
void vkh_trainer_options_init(vkh_trainer_options* options);

typedef struct vkh_metrics {
    double loss_sum;               /* summed over `seen` examples */
    double mean_loss, accuracy;
    uint64_t correct, seen;
    float loss_scale;
    uint32_t skipped, consecutive_skips, step, optimizer_step;
} vkh_metrics;

/* Records the training step of `model` (initialised with PyTorch's default initialisation from
 * the seed) over `train`. The model is fixed from now on. */
vkh_status vkh_trainer_create(vkh_context ctx, vkh_model model, vkh_dataset train, const vkh_trainer_options* options,
                              vkh_trainer* out);
void vkh_trainer_free(vkh_trainer t);
vkh_status vkh_trainer_steps_per_epoch(vkh_trainer t, int64_t* steps);
/* The example order of an epoch (from the seed and the epoch number). */
vkh_status vkh_trainer_shuffle(vkh_trainer t, uint64_t epoch);
/* One training step: one submission, no wait. */
vkh_status vkh_trainer_step(vkh_trainer t);
vkh_status vkh_trainer_wait(vkh_trainer t);
/* Waits, then reads the training metrics; reset clears the loss/accuracy sums afterwards.
 * VKH_ERROR_NUMERICAL when the run cannot make progress (see vkh_trainer_options). */
vkh_status vkh_trainer_metrics(vkh_trainer t, int32_t reset, vkh_metrics* out);
/* Loss and accuracy over a whole dataset with the current weights. */
vkh_status vkh_trainer_evaluate(vkh_trainer t, vkh_dataset data, vkh_metrics* out);
vkh_status vkh_trainer_parameter_count(vkh_trainer t, size_t* count);
/* The name (e.g. "0.weight") and element count of parameter `index`; name may be NULL. */
vkh_status vkh_trainer_parameter_info(vkh_trainer t, size_t index, char* name, size_t name_capacity, int64_t* numel);
/* fp32 master weights of a parameter by name; count must be its element count. set also
 * refreshes the working copy (rounded to nearest even in fp16). Non-finite values are refused. */
vkh_status vkh_trainer_get_parameter(vkh_trainer t, const char* name, float* values, size_t count);
vkh_status vkh_trainer_set_parameter(vkh_trainer t, const char* name, const float* values, size_t count);
/* The whole training state in one safetensors file, written atomically; refused
 * (VKH_ERROR_NUMERICAL) after a diverged update, so a bad run never replaces a good file. */
vkh_status vkh_trainer_save_checkpoint(vkh_trainer t, const char* path);
/* Checked against the model before anything changes: a file that does not fit is refused and
 * the trainer is untouched. */
vkh_status vkh_trainer_load_checkpoint(vkh_trainer t, const char* path);
/* Fine-tuning: initial weights from a safetensors state_dict PyTorch wrote (names as
 * model.state_dict(); F32, F16, BF16 or F64) or from a checkpoint; the optimizer starts fresh.
 * A missing, extra or misshapen tensor fails (VKH_ERROR_IO / VKH_ERROR_SHAPE, the message names
 * it) and the trainer is untouched. */
vkh_status vkh_trainer_load_weights(vkh_trainer t, const char* path);

#ifdef __cplusplus
}
#endif

#endif /* VKHALF_VKHALF_H */
