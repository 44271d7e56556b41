/* The C API from C: every result against a double-precision reference computed here, every
 * argument check answered with its status, and no validation message. Linked against
 * libvkhalf.so, as a C program would use it. Exit status 0 when every check passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkhalf/vkhalf.h"

static int failures = 0, checks = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        ++checks;                                                                    \
        if (!(cond)) {                                                               \
            ++failures;                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, vkh_last_error());                              \
        }                                                                            \
    } while (0)
#define CHECK_OK(call) CHECK((call) == VKH_OK)
#define CHECK_STATUS(call, status) CHECK((call) == (status) && vkh_last_error()[0] != '\0')

static float uniform(unsigned* state) { /* deterministic values in [-1, 1) */
    *state = *state * 1664525u + 1013904223u;
    return (float)((*state >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static float round_f16(float x) { /* through the library's own RNE is what we test; this is the reference */
    if (x == 0.0f || !isfinite(x)) return x;
    int e;
    frexpf(x, &e);                    /* x = m 2^e, 0.5 <= |m| < 1 */
    if (e < -13) e = -13;             /* subnormal fp16: fixed step 2^-24 */
    const double step = ldexp(1.0, e - 11);
    return (float)(nearbyint((double)x / step) * step); /* nearbyint: ties to even by default */
}

static vkh_tensor tensor(vkh_context ctx, int32_t ndim, const int64_t* shape, vkh_dtype dtype, const float* values) {
    vkh_tensor t = NULL;
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; ++i) n *= shape[i];
    CHECK_OK(vkh_tensor_create(ctx, shape, ndim, dtype, &t));
    if (t && values) CHECK_OK(vkh_tensor_upload_f32(t, values, (size_t)n));
    return t;
}

/* Plain comparisons, not fmax(): aarch64 GCC 12 -O3 hits an internal compiler error vectorizing an
 * fmax reduction over doubles (tree-vect-loop.cc:7457). */
static double max_rel_error(const float* got, const double* want, size_t n) {
    double worst = 0, scale = 1e-3;
    for (size_t i = 0; i < n; ++i)
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    for (size_t i = 0; i < n; ++i) {
        const double e = fabs((double)got[i] - want[i]) / scale;
        if (e > worst) worst = e;
    }
    return worst;
}

static void test_errors_without_device(void) {
    vkh_context ctx = NULL;
    CHECK(strcmp(vkh_version_string(), "") != 0);
    CHECK(strcmp(vkh_status_string(VKH_ERROR_SHAPE), "shape mismatch") == 0);
    CHECK_STATUS(vkh_context_create(NULL, NULL), VKH_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(vkh_last_error(), "vkh_context_create") != NULL);
    CHECK_STATUS(vkh_device_get_info(0, NULL), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_tensor_numel(NULL, NULL), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_gemm(ctx, NULL, NULL, NULL, NULL), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_model_add_linear(NULL, 4, 4), VKH_ERROR_INVALID_ARGUMENT);
    vkh_model m = NULL;
    CHECK_OK(vkh_model_create(&m));
    CHECK(vkh_last_error()[0] == '\0'); /* a success clears the message */
    CHECK_STATUS(vkh_model_add_linear(m, 0, 4), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_model_add_activation(m, (vkh_activation)42), VKH_ERROR_INVALID_ARGUMENT);
    /* a handle of another kind: every handle is a pointer to a C FFI */
    CHECK_STATUS(vkh_tensor_numel((vkh_tensor)(void*)m, &(int64_t){0}), VKH_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(vkh_last_error(), "not a live vkh_tensor") != NULL);
    vkh_model_free(m);
    vkh_context_free(NULL); /* NULL is accepted by every free */
    vkh_tensor_free(NULL);
}

static void test_tensors(vkh_context ctx) {
    const int64_t shape[2] = {3, 5};
    float in[15], out[15];
    unsigned seed = 1;
    for (int i = 0; i < 15; ++i) in[i] = uniform(&seed) * 1000.0f;
    in[0] = 1.0f / 3.0f;
    in[1] = 65519.0f;  /* rounds to 65504 (ties to even would need 65520) */
    in[2] = 2049.0f;   /* halfway between 2048 and 2050: to even, 2048 */
    vkh_tensor t = tensor(ctx, 2, shape, VKH_F16, in);
    CHECK_OK(vkh_tensor_download_f32(t, out, 15));
    for (int i = 0; i < 15; ++i) CHECK(out[i] == round_f16(in[i]));
    CHECK(out[0] == 0.333251953125f && out[1] == 65504.0f && out[2] == 2048.0f);

    int64_t dims[VKH_MAX_DIMS];
    int32_t ndim = 0;
    vkh_dtype dtype = VKH_F32;
    CHECK_OK(vkh_tensor_get_shape(t, dims, VKH_MAX_DIMS, &ndim));
    CHECK(ndim == 2 && dims[0] == 3 && dims[1] == 5);
    CHECK_OK(vkh_tensor_get_dtype(t, &dtype));
    CHECK(dtype == VKH_F16);
    CHECK_STATUS(vkh_tensor_get_shape(t, dims, 1, &ndim), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_tensor_upload_f32(t, in, 14), VKH_ERROR_SHAPE);
    CHECK_STATUS(vkh_tensor_upload_f32(t, NULL, 15), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_tensor_upload_u32(t, (const uint32_t*)in, 15), VKH_ERROR_DTYPE);
    CHECK_STATUS(vkh_tensor_upload_bytes(t, in, 29), VKH_ERROR_SHAPE);
    const int64_t bad[2] = {3, -1};
    vkh_tensor none = NULL;
    CHECK_STATUS(vkh_tensor_create(ctx, bad, 2, VKH_F32, &none), VKH_ERROR_SHAPE);
    CHECK_STATUS(vkh_tensor_create(ctx, shape, 9, VKH_F32, &none), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_tensor_create(ctx, shape, 2, (vkh_dtype)7, &none), VKH_ERROR_INVALID_ARGUMENT);
    CHECK(none == NULL); /* out-pointers are written only on success */

    uint32_t words[4] = {0, 1, 0xdeadbeefu, 0xffffffffu}, back[4] = {0};
    const int64_t four = 4;
    vkh_tensor u = NULL;
    CHECK_OK(vkh_tensor_create(ctx, &four, 1, VKH_U32, &u));
    CHECK_OK(vkh_tensor_upload_u32(u, words, 4));
    CHECK_OK(vkh_tensor_download_u32(u, back, 4));
    CHECK(memcmp(words, back, sizeof words) == 0);
    CHECK_STATUS(vkh_tensor_download_f32(u, out, 4), VKH_ERROR_DTYPE);
    vkh_tensor_free(u);
    vkh_tensor_free(t);
}

/* C = A B^T + bias, relu; fp16 inputs, f32 output, eager and through a graph. */
static void test_gemm(vkh_context ctx) {
    enum { M = 37, N = 29, K = 45 };
    static float a[M * K], b[N * K], bias[N], c[M * N];
    static double want[M * N];
    unsigned seed = 7;
    for (int i = 0; i < M * K; ++i) a[i] = round_f16(uniform(&seed));
    for (int i = 0; i < N * K; ++i) b[i] = round_f16(uniform(&seed));
    for (int i = 0; i < N; ++i) bias[i] = round_f16(uniform(&seed));
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            double s = bias[n];
            for (int k = 0; k < K; ++k) s += (double)a[m * K + k] * b[n * K + k];
            want[m * N + n] = s > 0 ? s : 0;
        }
    const int64_t sa[2] = {M, K}, sb[2] = {N, K}, sc[2] = {M, N}, sbias[1] = {N};
    vkh_tensor ta = tensor(ctx, 2, sa, VKH_F16, a), tb = tensor(ctx, 2, sb, VKH_F16, b);
    vkh_tensor tbias = tensor(ctx, 1, sbias, VKH_F16, bias), tc = tensor(ctx, 2, sc, VKH_F32, NULL);
    vkh_gemm_options o;
    vkh_gemm_options_init(&o);
    o.trans_b = 1;
    o.bias = tbias;
    o.relu = 1;
    CHECK_OK(vkh_gemm(ctx, ta, tb, tc, &o));
    CHECK_OK(vkh_tensor_download_f32(tc, c, M * N));
    /* fp16 inputs are exact in fp32; the sum is fp32: K roundings of at most 2^-24 relative */
    CHECK(max_rel_error(c, want, M * N) < 1e-5);

    /* recorded once as a builder's program, replayed with new inputs: a graph's matmul of f16
       operands is f16 (fp32 sums, one rounding to fp16 at the end) */
    vkh_builder bld = NULL;
    vkh_program prog = NULL;
    vkh_tensor tc2 = tensor(ctx, 2, sc, VKH_F16, NULL);
    CHECK_OK(vkh_builder_create(ctx, &bld));
    vkh_value v[3], prod = -1, out = -1;
    CHECK_OK(vkh_builder_input(bld, ta, "a", 0, &v[0]));
    CHECK_OK(vkh_builder_input(bld, tb, "b", 0, &v[1]));
    CHECK_OK(vkh_builder_input(bld, tbias, "bias", 0, &v[2]));
    vkh_op_attrs attrs;
    vkh_op_attrs_init(&attrs);
    attrs.trans_b = 1;
    CHECK_OK(vkh_builder_op(bld, "matmul", v, 3, &attrs, &prod));
    CHECK_OK(vkh_builder_op(bld, "relu", &prod, 1, NULL, &out));
    CHECK_OK(vkh_program_create(bld, &out, &tc2, 1, &prog));
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < M * K; ++i) a[i] = round_f16(-a[i]);
        for (int m = 0; m < M; ++m)
            for (int n = 0; n < N; ++n) {
                double s = bias[n];
                for (int k = 0; k < K; ++k) s += (double)a[m * K + k] * b[n * K + k];
                want[m * N + n] = s > 0 ? s : 0;
            }
        CHECK_OK(vkh_tensor_upload_f32(ta, a, M * K));
        CHECK_OK(vkh_program_run(prog));
        CHECK_OK(vkh_program_wait(prog));
        CHECK_OK(vkh_tensor_download_f32(tc2, c, M * N));
        CHECK(max_rel_error(c, want, M * N) < 1e-3); /* one fp16 rounding: 2^-11 of the value */
    }

    /* what the library refuses */
    vkh_gemm_options plain;
    vkh_gemm_options_init(&plain);
    CHECK_STATUS(vkh_gemm(ctx, ta, tb, tc, &plain), VKH_ERROR_SHAPE); /* K x N expected, N x K given */
    vkh_tensor u = NULL;
    CHECK_OK(vkh_tensor_create(ctx, sa, 2, VKH_U32, &u));
    CHECK_STATUS(vkh_gemm(ctx, u, tb, tc, &o), VKH_ERROR_DTYPE);
    CHECK_STATUS(vkh_gemm(ctx, ta, NULL, tc, &o), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_builder_op(bld, "matmul", NULL, 2, &attrs, &prod), VKH_ERROR_INVALID_ARGUMENT);
    vkh_tensor_free(u);
    vkh_program_free(prog);
    vkh_builder_free(bld);
    vkh_tensor_free(tc2);
    vkh_tensor_free(ta); /* the program is gone; the tensors can go in any order */
    vkh_tensor_free(tb);
    vkh_tensor_free(tbias);
    vkh_tensor_free(tc);
}

static void test_conv_and_activations(vkh_context ctx) {
    enum { B = 2, C = 3, H = 7, W = 6, O = 4, KH = 3, KW = 3, OH = 4, OW = 3 }; /* stride 2, padding 1 */
    static float x[B * C * H * W], w[O * C * KH * KW], y[B * O * OH * OW];
    static double want[B * O * OH * OW];
    unsigned seed = 11;
    for (int i = 0; i < B * C * H * W; ++i) x[i] = uniform(&seed);
    for (int i = 0; i < O * C * KH * KW; ++i) w[i] = uniform(&seed);
    for (int b = 0; b < B; ++b)
        for (int o = 0; o < O; ++o)
            for (int oh = 0; oh < OH; ++oh)
                for (int ow = 0; ow < OW; ++ow) {
                    double s = 0;
                    for (int c = 0; c < C; ++c)
                        for (int kh = 0; kh < KH; ++kh)
                            for (int kw = 0; kw < KW; ++kw) {
                                const int ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                s += (double)x[((b * C + c) * H + ih) * W + iw] * w[((o * C + c) * KH + kh) * KW + kw];
                            }
                    want[((b * O + o) * OH + oh) * OW + ow] = s;
                }
    const int64_t sx[4] = {B, C, H, W}, sw[4] = {O, C, KH, KW}, sy[4] = {B, O, OH, OW};
    vkh_tensor tx = tensor(ctx, 4, sx, VKH_F32, x), tw = tensor(ctx, 4, sw, VKH_F32, w);
    vkh_tensor ty = tensor(ctx, 4, sy, VKH_F32, NULL);
    vkh_conv2d_params p;
    vkh_conv2d_params_init(&p);
    p.stride_h = p.stride_w = 2;
    p.pad_h = p.pad_w = 1;
    int64_t shape[4] = {0};
    CHECK_OK(vkh_conv2d_output_shape(tx, tw, &p, shape));
    CHECK(shape[0] == B && shape[1] == O && shape[2] == OH && shape[3] == OW);
    CHECK_OK(vkh_conv2d(ctx, tx, tw, NULL, ty, &p, 0));
    CHECK_OK(vkh_tensor_download_f32(ty, y, B * O * OH * OW));
    CHECK(max_rel_error(y, want, B * O * OH * OW) < 1e-5);
    p.stride_h = 0;
    CHECK_STATUS(vkh_conv2d(ctx, tx, tw, NULL, ty, &p, 0), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_conv2d(ctx, tx, tw, NULL, tx, NULL, 0), VKH_ERROR_SHAPE);

    /* depthwise: 2 channels, one 3x3 filter each (groups = 2), padding 1 */
    {
        static float xd[2 * 4 * 4], wd[2 * 9], yd[2 * 4 * 4];
        double want_d[2 * 4 * 4];
        for (int i = 0; i < 32; ++i) xd[i] = uniform(&seed);
        for (int i = 0; i < 18; ++i) wd[i] = uniform(&seed);
        for (int c = 0; c < 2; ++c)
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) {
                    double s = 0;
                    for (int u = 0; u < 3; ++u)
                        for (int v = 0; v < 3; ++v) {
                            const int ih = i - 1 + u, iw = j - 1 + v;
                            if (ih >= 0 && ih < 4 && iw >= 0 && iw < 4) s += (double)xd[(c * 4 + ih) * 4 + iw] * wd[c * 9 + u * 3 + v];
                        }
                    want_d[(c * 4 + i) * 4 + j] = s;
                }
        const int64_t sxd[4] = {1, 2, 4, 4}, swd[4] = {2, 1, 3, 3};
        vkh_tensor txd = tensor(ctx, 4, sxd, VKH_F32, xd), twd = tensor(ctx, 4, swd, VKH_F32, wd);
        vkh_tensor tyd = tensor(ctx, 4, sxd, VKH_F32, NULL);
        vkh_conv2d_params dp = {1, 1, 1, 1, 1, 1, 2};
        CHECK_OK(vkh_conv2d(ctx, txd, twd, NULL, tyd, &dp, 0));
        CHECK_OK(vkh_tensor_download_f32(tyd, yd, 32));
        CHECK(max_rel_error(yd, want_d, 32) < 1e-5);
        dp.groups = 0; /* a struct filled before 0.2.0's field: one group, so w's one channel mismatches */
        CHECK_STATUS(vkh_conv2d(ctx, txd, twd, NULL, tyd, &dp, 0), VKH_ERROR_SHAPE);
        dp.groups = -1;
        CHECK_STATUS(vkh_conv2d(ctx, txd, twd, NULL, tyd, &dp, 0), VKH_ERROR_INVALID_ARGUMENT);
        vkh_tensor_free(txd);
        vkh_tensor_free(twd);
        vkh_tensor_free(tyd);
    }

    /* tanh and its backward on the conv output */
    static float dx[B * O * OH * OW];
    static double want_y[B * O * OH * OW], want_dx[B * O * OH * OW];
    for (int i = 0; i < B * O * OH * OW; ++i) {
        want_y[i] = tanh((double)y[i]);
        want_dx[i] = 0.5 * (1 - want_y[i] * want_y[i]);
    }
    vkh_tensor t_act = tensor(ctx, 4, sy, VKH_F32, NULL), t_dy = tensor(ctx, 4, sy, VKH_F32, NULL);
    vkh_tensor t_dx = tensor(ctx, 4, sy, VKH_F32, NULL);
    for (int i = 0; i < B * O * OH * OW; ++i) dx[i] = 0.5f;
    CHECK_OK(vkh_tensor_upload_f32(t_dy, dx, B * O * OH * OW));
    CHECK_OK(vkh_activation_forward(ctx, VKH_TANH, ty, t_act));
    CHECK_OK(vkh_activation_backward(ctx, VKH_TANH, t_dy, ty, t_dx));
    CHECK_STATUS(vkh_activation_forward(ctx, (vkh_activation)9, ty, t_act), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_OK(vkh_tensor_download_f32(t_act, y, B * O * OH * OW));
    CHECK(max_rel_error(y, want_y, B * O * OH * OW) < 1e-5);
    CHECK_OK(vkh_tensor_download_f32(t_dx, dx, B * O * OH * OW));
    CHECK(max_rel_error(dx, want_dx, B * O * OH * OW) < 1e-5);

    /* GELU's tanh form (GPT-2's), eager, on the conv output */
    {
        static float g[B * O * OH * OW];
        static double want_g[B * O * OH * OW];
        for (int i = 0; i < B * O * OH * OW; ++i) {
            const double x = y[i] * 3.0, u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
            g[i] = (float)x;
            want_g[i] = 0.5 * x * (1.0 + tanh(u));
        }
        vkh_tensor t_g = tensor(ctx, 4, sy, VKH_F32, g), t_gy = tensor(ctx, 4, sy, VKH_F32, NULL);
        CHECK_OK(vkh_activation_forward(ctx, VKH_GELU_TANH, t_g, t_gy));
        CHECK_OK(vkh_tensor_download_f32(t_gy, g, B * O * OH * OW));
        /* relative to the largest |value| (the shared helper: aarch64's gcc 12 crashed vectorising
           an fmax reduction written here) */
        CHECK(max_rel_error(g, want_g, B * O * OH * OW) < 1e-5);
        vkh_tensor_free(t_g);
        vkh_tensor_free(t_gy);
    }

    /* MSE between the activation and zero: mean of squares */
    const int64_t one = 1;
    vkh_tensor t_zero = tensor(ctx, 4, sy, VKH_F32, NULL), t_loss = tensor(ctx, 1, &one, VKH_F32, NULL);
    static float zeros[B * O * OH * OW];
    CHECK_OK(vkh_tensor_upload_f32(t_zero, zeros, B * O * OH * OW));
    CHECK_OK(vkh_mse_loss(ctx, t_act, t_zero, t_loss, NULL, 1.0f));
    float loss = 0;
    double want_loss = 0;
    for (int i = 0; i < B * O * OH * OW; ++i) want_loss += want_y[i] * want_y[i] / (B * O * OH * OW);
    CHECK_OK(vkh_tensor_download_f32(t_loss, &loss, 1));
    CHECK(fabs(loss - want_loss) < 1e-5 * fmax(1.0, want_loss));

    vkh_tensor_free(t_act), vkh_tensor_free(t_dy), vkh_tensor_free(t_dx), vkh_tensor_free(t_zero);
    vkh_tensor_free(t_loss), vkh_tensor_free(tx), vkh_tensor_free(tw), vkh_tensor_free(ty);
}

/* count 8x8 images of four classes: image i (class i % 4) has that class's quadrant bright, plus noise. */
static void quadrant_images(uint8_t* pixels, int count, unsigned seed) {
    for (int i = 0; i < count; ++i)
        for (int p = 0; p < 64; ++p) {
            const int r = p / 8, c = p % 8, quadrant = (r >= 4) * 2 + (c >= 4);
            const float noise = 40.0f * (uniform(&seed) + 1.0f);
            pixels[i * 64 + p] = (uint8_t)(quadrant == i % 4 ? 160.0f + noise : noise);
        }
}

/* Four classes of 8x8 images (a bright quadrant each, plus noise): an MLP learns them. */
static void test_training(vkh_context ctx, const char* checkpoint) {
    enum { COUNT = 512, FEATURES = 64 };
    static uint8_t pixels[COUNT * FEATURES], labels[COUNT];
    quadrant_images(pixels, COUNT, 5);
    for (int i = 0; i < COUNT; ++i) labels[i] = (uint8_t)(i % 4);
    vkh_dataset data = NULL;
    CHECK_OK(vkh_dataset_create(ctx, pixels, labels, COUNT, FEATURES, 4, &data));
    labels[3] = 9;
    vkh_dataset refused = NULL;
    CHECK_STATUS(vkh_dataset_create(ctx, pixels, labels, COUNT, FEATURES, 4, &refused), VKH_ERROR_SHAPE);
    labels[3] = 3;

    vkh_model model = NULL;
    CHECK_OK(vkh_model_create(&model));
    CHECK_OK(vkh_model_add_linear(model, FEATURES, 32));
    CHECK_OK(vkh_model_add_activation(model, VKH_RELU));
    CHECK_OK(vkh_model_add_linear(model, 32, 4));
    vkh_trainer_options o;
    vkh_trainer_options_init(&o);
    o.batch = 64;
    o.lr = 1e-2f;
    o.seed = 3;
    vkh_trainer tr = NULL;
    o.batch = COUNT + 1;
    CHECK_STATUS(vkh_trainer_create(ctx, model, data, &o, &tr), VKH_ERROR_SHAPE);
    o.batch = 64;
    o.lr = -1.0f;
    CHECK_STATUS(vkh_trainer_create(ctx, model, data, &o, &tr), VKH_ERROR_INVALID_ARGUMENT);
    o.lr = 1e-2f;
    CHECK_OK(vkh_trainer_create(ctx, model, data, &o, &tr));
    CHECK_STATUS(vkh_model_add_linear(model, 4, 4), VKH_ERROR_INVALID_ARGUMENT); /* fixed now */
    vkh_trainer other = NULL;
    CHECK_STATUS(vkh_trainer_create(ctx, model, data, &o, &other), VKH_ERROR_INVALID_ARGUMENT);
    vkh_model_free(model); /* the trainer keeps it */

    int64_t steps = 0;
    CHECK_OK(vkh_trainer_steps_per_epoch(tr, &steps));
    CHECK(steps == COUNT / 64);
    vkh_metrics first, trained, last;
    CHECK_OK(vkh_trainer_evaluate(tr, data, &first));
    for (uint64_t epoch = 0; epoch < 5; ++epoch) {
        CHECK_OK(vkh_trainer_shuffle(tr, epoch));
        for (int64_t s = 0; s < steps; ++s) CHECK_OK(vkh_trainer_step(tr));
    }
    CHECK_OK(vkh_trainer_metrics(tr, 1, &trained));
    CHECK(trained.step == 5 * steps && trained.seen > 0 && trained.loss_scale >= 1.0f);
    CHECK_OK(vkh_trainer_evaluate(tr, data, &last));
    printf("training: loss %.4f -> %.4f, accuracy %.3f -> %.3f, loss scale %g\n", first.mean_loss, last.mean_loss,
           first.accuracy, last.accuracy, (double)trained.loss_scale);
    CHECK(last.mean_loss < 0.5 * first.mean_loss);
    CHECK(last.accuracy > 0.95);

    /* parameters by name, and checkpoints */
    size_t count = 0;
    char name[64];
    int64_t numel = 0;
    CHECK_OK(vkh_trainer_parameter_count(tr, &count));
    CHECK(count == 4);
    CHECK_OK(vkh_trainer_parameter_info(tr, 2, name, sizeof name, &numel));
    CHECK(strcmp(name, "2.weight") == 0 && numel == 4 * 32);
    CHECK_STATUS(vkh_trainer_parameter_info(tr, 4, name, sizeof name, &numel), VKH_ERROR_INVALID_ARGUMENT);
    static float weights[4 * 32], changed[4 * 32], back[4 * 32];
    CHECK_OK(vkh_trainer_get_parameter(tr, "2.weight", weights, 4 * 32));
    CHECK_OK(vkh_trainer_save_checkpoint(tr, checkpoint));
    for (int i = 0; i < 4 * 32; ++i) changed[i] = 0.25f;
    CHECK_OK(vkh_trainer_set_parameter(tr, "2.weight", changed, 4 * 32));
    CHECK_OK(vkh_trainer_get_parameter(tr, "2.weight", back, 4 * 32));
    CHECK(memcmp(back, changed, sizeof back) == 0);
    changed[5] = NAN;
    CHECK_STATUS(vkh_trainer_set_parameter(tr, "2.weight", changed, 4 * 32), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_trainer_get_parameter(tr, "2.weight", back, 7), VKH_ERROR_SHAPE);
    CHECK_STATUS(vkh_trainer_get_parameter(tr, "9.weight", back, 4 * 32), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_OK(vkh_trainer_load_checkpoint(tr, checkpoint));
    CHECK_OK(vkh_trainer_get_parameter(tr, "2.weight", back, 4 * 32));
    CHECK(memcmp(back, weights, sizeof back) == 0);
    /* a checkpoint also serves as initial weights (the optimizer state left out) */
    changed[5] = 0.25f;
    CHECK_OK(vkh_trainer_set_parameter(tr, "2.weight", changed, 4 * 32));
    CHECK_OK(vkh_trainer_load_weights(tr, checkpoint));
    CHECK_OK(vkh_trainer_get_parameter(tr, "2.weight", back, 4 * 32));
    CHECK(memcmp(back, weights, sizeof back) == 0);
    CHECK_STATUS(vkh_trainer_load_weights(tr, "/nonexistent/weights.safetensors"), VKH_ERROR_IO);
    CHECK_STATUS(vkh_trainer_load_weights(tr, NULL), VKH_ERROR_INVALID_ARGUMENT);

    /* a corrupted checkpoint is refused and changes nothing */
    FILE* f = fopen(checkpoint, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, -3, SEEK_END);
        fputc('x', f);
        fclose(f);
    }
    CHECK_STATUS(vkh_trainer_load_checkpoint(tr, checkpoint), VKH_ERROR_IO);
    CHECK_OK(vkh_trainer_get_parameter(tr, "2.weight", back, 4 * 32));
    CHECK(memcmp(back, weights, sizeof back) == 0);
    CHECK_STATUS(vkh_trainer_load_checkpoint(tr, ""), VKH_ERROR_INVALID_ARGUMENT);
    remove(checkpoint);

    vkh_trainer_free(tr);

    /* fine-tuning: the first layer frozen keeps every bit of its weights, the head trains */
    vkh_model tuned = NULL;
    CHECK_OK(vkh_model_create(&tuned));
    CHECK_OK(vkh_model_add_linear(tuned, FEATURES, 32));
    CHECK_OK(vkh_model_add_activation(tuned, VKH_RELU));
    CHECK_OK(vkh_model_add_linear(tuned, 32, 4));
    CHECK_STATUS(vkh_model_freeze(tuned, NULL), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_OK(vkh_model_freeze(tuned, "0."));
    CHECK_OK(vkh_trainer_create(ctx, tuned, data, &o, &tr));
    CHECK_STATUS(vkh_model_freeze(tuned, "2."), VKH_ERROR_INVALID_ARGUMENT); /* too late */
    static float frozen_before[32 * FEATURES], frozen_after[32 * FEATURES], head_before[4 * 32], head_after[4 * 32];
    CHECK_OK(vkh_trainer_get_parameter(tr, "0.weight", frozen_before, 32 * FEATURES));
    CHECK_OK(vkh_trainer_get_parameter(tr, "2.weight", head_before, 4 * 32));
    for (uint64_t epoch = 0; epoch < 2; ++epoch) {
        CHECK_OK(vkh_trainer_shuffle(tr, epoch));
        for (int64_t s = 0; s < steps; ++s) CHECK_OK(vkh_trainer_step(tr));
    }
    CHECK_OK(vkh_trainer_get_parameter(tr, "0.weight", frozen_after, 32 * FEATURES));
    CHECK_OK(vkh_trainer_get_parameter(tr, "2.weight", head_after, 4 * 32));
    CHECK(memcmp(frozen_before, frozen_after, sizeof frozen_after) == 0);
    CHECK(memcmp(head_before, head_after, sizeof head_after) != 0);
    vkh_trainer_free(tr);
    vkh_model_free(tuned);
    vkh_model wrong = NULL;
    CHECK_OK(vkh_model_create(&wrong));
    CHECK_OK(vkh_model_add_linear(wrong, FEATURES, 4));
    CHECK_OK(vkh_model_freeze(wrong, "7."));
    CHECK_STATUS(vkh_trainer_create(ctx, wrong, data, &o, &tr), VKH_ERROR_INVALID_ARGUMENT);
    vkh_model_free(wrong);

    /* a learning rate that diverges: the update is refused, the weights stay finite, and metrics and
     * saving report it instead of training on garbage */
    vkh_model wild = NULL;
    CHECK_OK(vkh_model_create(&wild));
    CHECK_OK(vkh_model_add_linear(wild, FEATURES, 4));
    o.lr = 1e6f;
    CHECK_OK(vkh_trainer_create(ctx, wild, data, &o, &tr));
    vkh_status status = VKH_OK;
    for (int s = 0; s < 4 * steps && status == VKH_OK; ++s) {
        CHECK_OK(vkh_trainer_step(tr));
        status = vkh_trainer_metrics(tr, 0, &trained);
    }
    CHECK(status == VKH_ERROR_NUMERICAL && strstr(vkh_last_error(), "diverged") != NULL);
    CHECK_STATUS(vkh_trainer_save_checkpoint(tr, checkpoint), VKH_ERROR_NUMERICAL);
    static float wild_weights[4 * FEATURES];
    CHECK_OK(vkh_trainer_get_parameter(tr, "0.weight", wild_weights, 4 * FEATURES));
    int finite = 1;
    for (int i = 0; i < 4 * FEATURES; ++i) finite &= isfinite(wild_weights[i]) != 0;
    CHECK(finite);
    vkh_trainer_free(tr);
    vkh_model_free(wild);
    vkh_dataset_free(data);
}


/* ---- regression: a dataset with targets trains with MSE -------------------------------------- */
/* Targets one-hot in the quadrant that is bright (the classification data above as regression):
 * the MSE falls and the rows' largest outputs land on the targets' ones. */
static void test_regression(vkh_context ctx) {
    enum { COUNT = 256, FEATURES = 64, OUTPUTS = 4 };
    static uint8_t pixels[COUNT * FEATURES];
    static float targets[COUNT * OUTPUTS];
    quadrant_images(pixels, COUNT, 9);
    for (int i = 0; i < COUNT; ++i)
        for (int k = 0; k < OUTPUTS; ++k) targets[i * OUTPUTS + k] = k == i % OUTPUTS ? 1.0f : 0.0f;
    vkh_dataset data = NULL, refused = NULL;
    CHECK_STATUS(vkh_dataset_create_regression(ctx, pixels, NULL, COUNT, FEATURES, OUTPUTS, &refused),
                 VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_dataset_create_regression(ctx, pixels, targets, COUNT, FEATURES, 0, &refused),
                 VKH_ERROR_INVALID_ARGUMENT);
    targets[7] = INFINITY;
    CHECK_STATUS(vkh_dataset_create_regression(ctx, pixels, targets, COUNT, FEATURES, OUTPUTS, &refused),
                 VKH_ERROR_NUMERICAL);
    CHECK(strstr(vkh_last_error(), "target 3 of example 1") != NULL);
    targets[7] = 0.0f;
    CHECK_OK(vkh_dataset_create_regression(ctx, pixels, targets, COUNT, FEATURES, OUTPUTS, &data));

    vkh_model model = NULL;
    CHECK_OK(vkh_model_create(&model));
    CHECK_OK(vkh_model_add_linear(model, FEATURES, 16));
    CHECK_OK(vkh_model_add_activation(model, VKH_RELU));
    CHECK_OK(vkh_model_add_linear(model, 16, OUTPUTS));
    vkh_trainer_options o;
    vkh_trainer_options_init(&o);
    o.batch = 32;
    o.lr = 1e-2f;
    vkh_trainer tr = NULL;
    o.label_smoothing = 0.1f; /* cross-entropy only */
    CHECK_STATUS(vkh_trainer_create(ctx, model, data, &o, &tr), VKH_ERROR_INVALID_ARGUMENT);
    o.label_smoothing = 0.0f;
    CHECK_OK(vkh_trainer_create(ctx, model, data, &o, &tr));
    vkh_model_free(model);
    vkh_metrics first, last;
    CHECK_OK(vkh_trainer_evaluate(tr, data, &first));
    int64_t steps = 0;
    CHECK_OK(vkh_trainer_steps_per_epoch(tr, &steps));
    for (uint64_t epoch = 0; epoch < 5; ++epoch) {
        CHECK_OK(vkh_trainer_shuffle(tr, epoch));
        for (int64_t s = 0; s < steps; ++s) CHECK_OK(vkh_trainer_step(tr));
    }
    CHECK_OK(vkh_trainer_evaluate(tr, data, &last));
    printf("regression: MSE %.4f -> %.4f, argmax agreement %.3f -> %.3f\n", first.mean_loss, last.mean_loss,
           first.accuracy, last.accuracy);
    CHECK(last.mean_loss < 0.25 * first.mean_loss);
    CHECK(last.accuracy > 0.95);
    vkh_trainer_free(tr);
    vkh_dataset_free(data);
}

/* ---- token streams: a bigram model and a GPT trained through the C API ----------------------- */
/* A stream whose next token follows from the last two (a Fibonacci sequence mod 8): a bigram model
 * (embedding + linear) can only learn part of it, a one-block GPT, which sees the context, more. */
static void test_tokens(vkh_context ctx) {
    enum { COUNT = 4096, VOCAB = 8, BLOCK = 16 };
    static uint32_t tokens[COUNT];
    tokens[0] = 1, tokens[1] = 2;
    for (int i = 2; i < COUNT; ++i) tokens[i] = (tokens[i - 1] + tokens[i - 2]) % VOCAB;
    vkh_dataset data = NULL, refused = NULL;
    tokens[5] += VOCAB;
    CHECK_STATUS(vkh_dataset_create_tokens(ctx, tokens, COUNT, VOCAB, BLOCK, &refused), VKH_ERROR_SHAPE);
    CHECK(strstr(vkh_last_error(), "at 5") != NULL);
    tokens[5] -= VOCAB;
    CHECK_STATUS(vkh_dataset_create_tokens(ctx, tokens, COUNT, 1, BLOCK, &refused), VKH_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vkh_dataset_create_tokens(ctx, tokens, BLOCK, VOCAB, BLOCK, &refused), VKH_ERROR_SHAPE);
    CHECK_OK(vkh_dataset_create_tokens(ctx, tokens, COUNT, VOCAB, BLOCK, &data));
    int64_t windows = 0, block = 0;
    CHECK_OK(vkh_dataset_size(data, &windows, &block));
    CHECK(windows == COUNT / BLOCK && block == BLOCK);

    vkh_trainer_options o;
    vkh_trainer_options_init(&o);
    o.batch = 16;
    o.lr = 1e-2f;
    double final_loss[2] = {0, 0};
    for (int kind = 0; kind < 2; ++kind) {
        vkh_model model = NULL;
        CHECK_OK(vkh_model_create(&model));
        if (kind == 0) {
            CHECK_OK(vkh_model_add_embedding(model, VOCAB, 16));
            CHECK_OK(vkh_model_add_linear(model, 16, VOCAB));
        } else {
            CHECK_STATUS(vkh_model_add_gpt(model, VOCAB, BLOCK, 1, 3, 16), VKH_ERROR_INVALID_ARGUMENT); /* 3 heads */
            CHECK_OK(vkh_model_add_gpt(model, VOCAB, BLOCK, 1, 2, 16));
        }
        vkh_trainer tr = NULL;
        CHECK_OK(vkh_trainer_create(ctx, model, data, &o, &tr));
        vkh_model_free(model);
        vkh_metrics first, last;
        CHECK_OK(vkh_trainer_evaluate(tr, data, &first));
        int64_t steps = 0;
        CHECK_OK(vkh_trainer_steps_per_epoch(tr, &steps));
        for (uint64_t epoch = 0; epoch < 6; ++epoch)
            for (int64_t s = 0; s < steps; ++s) CHECK_OK(vkh_trainer_step(tr));
        CHECK_OK(vkh_trainer_evaluate(tr, data, &last));
        printf("tokens, %s: loss %.4f -> %.4f nats/token, next-token accuracy %.3f\n", kind ? "GPT" : "bigram",
               first.mean_loss, last.mean_loss, last.accuracy);
        CHECK(first.seen == (uint64_t)(COUNT / BLOCK) * BLOCK); /* every position of every window */
        CHECK(last.mean_loss < 0.75 * first.mean_loss);
        final_loss[kind] = last.mean_loss;
        if (kind == 1) {
            static float wte[VOCAB * 16];
            CHECK_OK(vkh_trainer_get_parameter(tr, "0.transformer.wte.weight", wte, VOCAB * 16));
        }
        vkh_trainer_free(tr);
    }
    CHECK(final_loss[1] < 0.5 * final_loss[0]); /* the context the bigram cannot see */
    /* a GPT whose block is shorter than the dataset's windows is refused, naming the shapes */
    vkh_model short_gpt = NULL;
    CHECK_OK(vkh_model_create(&short_gpt));
    CHECK_OK(vkh_model_add_gpt(short_gpt, VOCAB, BLOCK / 2, 1, 2, 16));
    vkh_trainer tr = NULL;
    CHECK_STATUS(vkh_trainer_create(ctx, short_gpt, data, &o, &tr), VKH_ERROR_SHAPE);
    vkh_model_free(short_gpt);
    vkh_dataset_free(data);
}

/* ---- the autograd graph through the C API ---------------------------------------------------- */
/* One graph with a weight used twice, a residual connection, two inputs and a frozen layer:
 *   h = relu(x W1^T + b1); y = relu(h W1^T + b1) + x; out = (y * z) W2^T; loss = mse(out, t)
 * Gradients of W1, b1 and x against central differences of the same function in double. */
enum { GR = 4, GD = 3, GO = 2 };
static double graph_loss(const double* x, const double* z, const double* w1, const double* b1, const double* w2,
                         const double* t) {
    double h[GR * GD], y[GR * GD], loss = 0;
    for (int r = 0; r < GR; ++r)
        for (int o = 0; o < GD; ++o) {
            double s = b1[o];
            for (int i = 0; i < GD; ++i) s += x[r * GD + i] * w1[o * GD + i];
            h[r * GD + o] = s > 0 ? s : 0;
        }
    for (int r = 0; r < GR; ++r)
        for (int o = 0; o < GD; ++o) {
            double s = b1[o];
            for (int i = 0; i < GD; ++i) s += h[r * GD + i] * w1[o * GD + i];
            y[r * GD + o] = (s > 0 ? s : 0) + x[r * GD + o];
        }
    for (int r = 0; r < GR; ++r)
        for (int o = 0; o < GO; ++o) {
            double s = 0;
            for (int i = 0; i < GD; ++i) s += y[r * GD + i] * z[r * GD + i] * w2[o * GD + i];
            loss += (s - t[r * GO + o]) * (s - t[r * GO + o]);
        }
    return loss / (GR * GO);
}

static void test_autograd(vkh_context ctx) {
    static float xf[GR * GD], zf[GR * GD], w1f[GD * GD], b1f[GD], w2f[GO * GD], tf[GR * GO];
    static double xd[GR * GD], zd[GR * GD], w1d[GD * GD], b1d[GD], w2d[GO * GD], td[GR * GO];
    float* fs[6] = {xf, zf, w1f, b1f, w2f, tf};
    double* ds[6] = {xd, zd, w1d, b1d, w2d, td};
    const int counts[6] = {GR * GD, GR * GD, GD * GD, GD, GO * GD, GR * GO};
    unsigned seed = 11;
    for (int k = 0; k < 6; ++k)
        for (int i = 0; i < counts[k]; ++i) ds[k][i] = fs[k][i] = uniform(&seed);
    const int64_t s_x[2] = {GR, GD}, s_w1[2] = {GD, GD}, s_b1[1] = {GD}, s_w2[2] = {GO, GD}, s_t[2] = {GR, GO};
    vkh_tensor tx = tensor(ctx, 2, s_x, VKH_F32, xf), tz = tensor(ctx, 2, s_x, VKH_F32, zf);
    vkh_tensor tw1 = tensor(ctx, 2, s_w1, VKH_F32, w1f), tb1 = tensor(ctx, 1, s_b1, VKH_F32, b1f);
    vkh_tensor tw2 = tensor(ctx, 2, s_w2, VKH_F32, w2f), tt = tensor(ctx, 2, s_t, VKH_F32, tf);

    vkh_builder b = NULL;
    CHECK_OK(vkh_builder_create(ctx, &b));
    vkh_value x, z, w1, b1, w2, t;
    CHECK_OK(vkh_builder_input(b, tx, "x", 1, &x));
    CHECK_OK(vkh_builder_input(b, tz, "z", 0, &z));
    CHECK_OK(vkh_builder_parameter(b, tw1, "fc.weight", 1, &w1));
    CHECK_OK(vkh_builder_parameter(b, tb1, "fc.bias", 1, &b1));
    CHECK_OK(vkh_builder_parameter(b, tw2, "head.weight", 0, &w2)); /* frozen */
    CHECK_OK(vkh_builder_input(b, tt, "target", 0, &t));
    vkh_op_attrs linear;
    vkh_op_attrs_init(&linear);
    linear.trans_b = 1;
    vkh_value in[3], h, y, y2, out, loss, sum;
    in[0] = x, in[1] = w1, in[2] = b1;
    CHECK_OK(vkh_builder_op(b, "matmul", in, 3, &linear, &h));
    CHECK_OK(vkh_builder_op(b, "relu", &h, 1, NULL, &h));
    in[0] = h;
    CHECK_OK(vkh_builder_op(b, "matmul", in, 3, &linear, &y));
    CHECK_OK(vkh_builder_op(b, "relu", &y, 1, NULL, &y));
    in[0] = y, in[1] = x;
    CHECK_OK(vkh_builder_op(b, "add", in, 2, NULL, &y));
    in[0] = y, in[1] = z;
    CHECK_OK(vkh_builder_op(b, "mul", in, 2, NULL, &y2));
    in[0] = y2, in[1] = w2;
    CHECK_OK(vkh_builder_op(b, "matmul", in, 2, &linear, &out));
    in[0] = out, in[1] = t;
    CHECK_OK(vkh_builder_op(b, "mse_loss", in, 2, NULL, &loss));
    int64_t shape[VKH_MAX_DIMS];
    int32_t ndim = 0;
    vkh_dtype dt;
    CHECK_OK(vkh_builder_value_shape(b, out, shape, &ndim, &dt));
    CHECK(ndim == 2 && shape[0] == GR && shape[1] == GO && dt == VKH_F32);

    /* refused: an unknown op, a shape mismatch, a frozen parameter's gradient, a foreign value */
    CHECK_STATUS(vkh_builder_op(b, "conv3d", in, 2, NULL, &sum), VKH_ERROR_INVALID_ARGUMENT);
    in[0] = x, in[1] = t;
    CHECK_STATUS(vkh_builder_op(b, "add", in, 2, NULL, &sum), VKH_ERROR_SHAPE);
    CHECK(strstr(vkh_last_error(), "add") != NULL);
    vkh_value g[3], wrt[3] = {w1, b1, x};
    CHECK_STATUS(vkh_builder_grad(b, loss, &w2, 1, 1.0f, g), VKH_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(vkh_last_error(), "head.weight") != NULL);
    const vkh_value bogus = 999;
    CHECK_STATUS(vkh_builder_grad(b, loss, &bogus, 1, 1.0f, g), VKH_ERROR_INVALID_ARGUMENT);

    CHECK_OK(vkh_builder_grad(b, loss, wrt, 3, 1.0f, g));
    const int64_t one[1] = {1};
    vkh_tensor tloss = tensor(ctx, 1, one, VKH_F32, NULL);
    vkh_tensor tg[3] = {tensor(ctx, 2, s_w1, VKH_F32, NULL), tensor(ctx, 1, s_b1, VKH_F32, NULL),
                        tensor(ctx, 2, s_x, VKH_F32, NULL)};
    const vkh_value outputs[4] = {loss, g[0], g[1], g[2]};
    const vkh_tensor targets[4] = {tloss, tg[0], tg[1], tg[2]};
    vkh_program p = NULL;
    CHECK_STATUS(vkh_program_create(b, outputs, targets + 1, 1, &p), VKH_ERROR_SHAPE); /* [1] into [3, 3] */
    CHECK_OK(vkh_program_create(b, outputs, targets, 4, &p));
    vkh_builder_free(b); /* the program keeps the graph and its tensors */
    CHECK_OK(vkh_program_run(p));
    CHECK_OK(vkh_program_wait(p));

    float got_loss = 0;
    CHECK_OK(vkh_tensor_download_f32(tloss, &got_loss, 1));
    const double want_loss = graph_loss(xd, zd, w1d, b1d, w2d, td);
    CHECK(fabs(got_loss - want_loss) <= 1e-5 * fabs(want_loss));
    double* params[3] = {w1d, b1d, xd};
    const int sizes[3] = {GD * GD, GD, GR * GD};
    for (int k = 0; k < 3; ++k) {
        float got[GR * GD];
        CHECK_OK(vkh_tensor_download_f32(tg[k], got, (size_t)sizes[k]));
        double worst = 0, scale = 1e-3;
        for (int i = 0; i < sizes[k]; ++i) {
            const double keep = params[k][i], step = 1e-6;
            params[k][i] = keep + step;
            const double up = graph_loss(xd, zd, w1d, b1d, w2d, td);
            params[k][i] = keep - step;
            const double down = graph_loss(xd, zd, w1d, b1d, w2d, td);
            params[k][i] = keep;
            const double want = (up - down) / (2 * step);
            worst = fabs(got[i] - want) > worst ? fabs(got[i] - want) : worst;
            scale = fabs(want) > scale ? fabs(want) : scale;
        }
        CHECK(worst <= 1e-4 * scale);
        printf("autograd: gradient %d worst error %.2e (scale %.2e)\n", k, worst, scale);
    }
    vkh_program_free(p);
    vkh_tensor_free(tloss);
    for (int k = 0; k < 3; ++k) vkh_tensor_free(tg[k]);
    vkh_tensor_free(tx), vkh_tensor_free(tz), vkh_tensor_free(tw1), vkh_tensor_free(tb1), vkh_tensor_free(tw2);
    vkh_tensor_free(tt);
}

/* Outputs bound to memory the program reads. The C API fuzzer found the first: a leaf bound to its
 * own tensor recorded a copy of that tensor onto itself (vkCmdCopyBuffer between overlapping
 * ranges, undefined on a GPU); now nothing is recorded. An output bound over a leaf it reads is an
 * in-place update, computed aside and copied over the leaf after every read. Two leaves bound to
 * each other's tensors (a swap no order of copies gets right) are refused. */
static void test_program_outputs_over_leaves(vkh_context ctx) {
    const int64_t shape[1] = {4};
    const float xs[4] = {1, -2, 3, -4};
    vkh_tensor tx = tensor(ctx, 1, shape, VKH_F32, xs), ty = tensor(ctx, 1, shape, VKH_F32, xs);
    vkh_tensor tz = tensor(ctx, 1, shape, VKH_F32, NULL);
    vkh_builder b = NULL;
    CHECK_OK(vkh_builder_create(ctx, &b));
    vkh_value x, y, r, s;
    CHECK_OK(vkh_builder_input(b, tx, "x", 0, &x));
    CHECK_OK(vkh_builder_input(b, ty, "y", 0, &y));
    vkh_program p = NULL;
    CHECK_OK(vkh_program_create(b, &x, &tx, 1, &p)); /* the fuzzer's sequence */
    CHECK_OK(vkh_program_run(p));
    CHECK_OK(vkh_program_wait(p));
    float got[4] = {0};
    CHECK_OK(vkh_tensor_download_f32(tx, got, 4));
    CHECK(memcmp(got, xs, sizeof got) == 0);
    vkh_program_free(p);

    const vkh_value relu_in[1] = {x}, add_in[2] = {x, y};
    CHECK_OK(vkh_builder_op(b, "relu", relu_in, 1, NULL, &r));
    CHECK_OK(vkh_builder_op(b, "add", add_in, 2, NULL, &s));
    const vkh_value values[2] = {r, s};
    const vkh_tensor targets[2] = {tx, tz}; /* x <- relu(x), z = x + y of the x before */
    CHECK_OK(vkh_program_create(b, values, targets, 2, &p));
    CHECK_OK(vkh_program_run(p));
    CHECK_OK(vkh_program_wait(p));
    float z[4] = {0};
    CHECK_OK(vkh_tensor_download_f32(tx, got, 4));
    CHECK_OK(vkh_tensor_download_f32(tz, z, 4));
    for (int i = 0; i < 4; ++i) CHECK(got[i] == (xs[i] > 0 ? xs[i] : 0) && z[i] == 2 * xs[i]);
    vkh_program_free(p);

    const vkh_value swap[2] = {x, y};
    const vkh_tensor crossed[2] = {ty, tx};
    p = NULL;
    CHECK_STATUS(vkh_program_create(b, swap, crossed, 2, &p), VKH_ERROR_INVALID_ARGUMENT);
    CHECK(p == NULL && strstr(vkh_last_error(), "written first") != NULL);
    vkh_builder_free(b);
    vkh_tensor_free(tx), vkh_tensor_free(ty), vkh_tensor_free(tz);
}

/* An embedding through the builder: rows of a table at u32 indices, and its gradient per row. */
static void test_embedding(vkh_context ctx) {
    static float table[4 * 3], rows[3 * 3], dtable[4 * 3], zeros[3 * 3];
    const uint32_t idx[3] = {2, 0, 2};
    unsigned seed = 5;
    for (int i = 0; i < 12; ++i) table[i] = uniform(&seed);
    const int64_t s_table[2] = {4, 3}, s_idx[1] = {3}, s_rows[2] = {3, 3};
    vkh_tensor tt = tensor(ctx, 2, s_table, VKH_F32, table), ti = NULL;
    CHECK_OK(vkh_tensor_create(ctx, s_idx, 1, VKH_U32, &ti));
    CHECK_OK(vkh_tensor_upload_u32(ti, idx, 3));
    vkh_tensor ty = tensor(ctx, 2, s_rows, VKH_F32, NULL), tdt = tensor(ctx, 2, s_table, VKH_F32, NULL);
    vkh_tensor tz = tensor(ctx, 2, s_rows, VKH_F32, zeros);
    vkh_builder b = NULL;
    CHECK_OK(vkh_builder_create(ctx, &b));
    vkh_value in[2], y, dt, z, loss;
    CHECK_OK(vkh_builder_parameter(b, tt, "wte.weight", 1, &in[0]));
    CHECK_OK(vkh_builder_input(b, ti, "tokens", 0, &in[1]));
    CHECK_OK(vkh_builder_input(b, tz, "zeros", 0, &z));
    CHECK_OK(vkh_builder_op(b, "embedding", in, 2, NULL, &y));
    vkh_value pair[2] = {y, z};
    CHECK_OK(vkh_builder_op(b, "mse_loss", pair, 2, NULL, &loss));
    /* mean(rows^2): d/d(table row r) = 2 (uses of r) table[r] / 9 */
    CHECK_OK(vkh_builder_grad(b, loss, &in[0], 1, 1.0f, &dt));
    CHECK_STATUS(vkh_builder_op(b, "embedding", in, 1, NULL, &y), VKH_ERROR_INVALID_ARGUMENT);
    vkh_value values[2] = {y, dt};
    vkh_tensor tensors[2] = {ty, tdt};
    vkh_program p = NULL;
    CHECK_OK(vkh_program_create(b, values, tensors, 2, &p));
    CHECK_OK(vkh_program_run(p));
    CHECK_OK(vkh_program_wait(p));
    CHECK_OK(vkh_tensor_download_f32(ty, rows, 9));
    CHECK_OK(vkh_tensor_download_f32(tdt, dtable, 12));
    for (int t = 0; t < 3; ++t)
        for (int k = 0; k < 3; ++k) CHECK(rows[t * 3 + k] == table[idx[t] * 3 + k]);
    for (int r = 0; r < 4; ++r)
        for (int k = 0; k < 3; ++k) {
            const double uses = r == 2 ? 2.0 : r == 0 ? 1.0 : 0.0, want = 2.0 * uses * table[r * 3 + k] / 9.0;
            CHECK(fabs(dtable[r * 3 + k] - want) <= 1e-6 * (1.0 + fabs(want)));
        }
    vkh_program_free(p);
    vkh_builder_free(b);
    vkh_tensor_free(tt), vkh_tensor_free(ti), vkh_tensor_free(ty), vkh_tensor_free(tdt), vkh_tensor_free(tz);
}

/* Fused causal attention through the registry's one entry point: qkv [1, 5, 3C], two heads of 2,
 * against a direct computation here; a head size the kernel cannot take is refused. */
static void test_attention(vkh_context ctx) {
    enum { T = 5, H = 2, D = 2, C = H * D };
    static float qkv[T * 3 * C], y[T * C];
    unsigned seed = 9;
    for (int i = 0; i < T * 3 * C; ++i) qkv[i] = uniform(&seed);
    const int64_t s_qkv[3] = {1, T, 3 * C}, s_y[3] = {1, T, C};
    vkh_tensor tq = tensor(ctx, 3, s_qkv, VKH_F32, qkv), ty = tensor(ctx, 3, s_y, VKH_F32, NULL);
    vkh_builder b = NULL;
    CHECK_OK(vkh_builder_create(ctx, &b));
    vkh_value x, out;
    CHECK_OK(vkh_builder_input(b, tq, "qkv", 0, &x));
    vkh_op_attrs attrs;
    vkh_op_attrs_init(&attrs);
    CHECK(attrs.heads == 1);
    attrs.heads = 3; /* 4 channels in 3 heads */
    CHECK_STATUS(vkh_builder_op(b, "causal_attention", &x, 1, &attrs, &out), VKH_ERROR_SHAPE);
    attrs.heads = 4; /* heads of 1 channel: odd */
    CHECK_STATUS(vkh_builder_op(b, "causal_attention", &x, 1, &attrs, &out), VKH_ERROR_UNSUPPORTED);
    attrs.heads = H;
    CHECK_OK(vkh_builder_op(b, "causal_attention", &x, 1, &attrs, &out));
    vkh_program p = NULL;
    CHECK_OK(vkh_program_create(b, &out, &ty, 1, &p));
    CHECK_OK(vkh_program_run(p));
    CHECK_OK(vkh_program_wait(p));
    CHECK_OK(vkh_tensor_download_f32(ty, y, T * C));
    for (int h = 0; h < H; ++h)
        for (int t = 0; t < T; ++t) {
            double w[T], m = -1e300, sum = 0;
            for (int j = 0; j <= t; ++j) {
                w[j] = 0;
                for (int c = 0; c < D; ++c) w[j] += qkv[t * 3 * C + h * D + c] * qkv[j * 3 * C + C + h * D + c];
                w[j] /= sqrt((double)D);
                m = w[j] > m ? w[j] : m;
            }
            for (int j = 0; j <= t; ++j) sum += (w[j] = exp(w[j] - m));
            for (int c = 0; c < D; ++c) {
                double want = 0;
                for (int j = 0; j <= t; ++j) want += w[j] / sum * qkv[j * 3 * C + 2 * C + h * D + c];
                CHECK(fabs(y[t * C + h * D + c] - want) <= 1e-5 * (1.0 + fabs(want)));
            }
        }
    vkh_program_free(p);
    vkh_builder_free(b);
    vkh_tensor_free(tq), vkh_tensor_free(ty);
}

/* "cast" through the registry: f32 -> f16 rounds to nearest even (65520 and beyond overflow to
 * inf), its gradient is cast back to f32; an unknown target dtype is refused. */
static void test_cast(vkh_context ctx) {
    enum { N = 6 };
    static const float x[N] = {1.0f, 1.00048828125f, 0.1f, -3.14159f, 65519.0f, 65520.0f};
    static float y[N], dx[N], zeros[N];
    const int64_t shape[1] = {N};
    vkh_tensor tx = tensor(ctx, 1, shape, VKH_F32, x), ty = tensor(ctx, 1, shape, VKH_F16, NULL);
    vkh_tensor tz = tensor(ctx, 1, shape, VKH_F16, zeros), tdx = tensor(ctx, 1, shape, VKH_F32, NULL);
    vkh_builder b = NULL;
    CHECK_OK(vkh_builder_create(ctx, &b));
    vkh_value in, z, half, loss, grad;
    CHECK_OK(vkh_builder_input(b, tx, "x", 1, &in));
    CHECK_OK(vkh_builder_input(b, tz, "zeros", 0, &z));
    vkh_op_attrs attrs;
    vkh_op_attrs_init(&attrs);
    CHECK(attrs.dtype == VKH_F32);
    CHECK_STATUS(vkh_builder_op(b, "cast", &in, 1, &attrs, &half), VKH_ERROR_DTYPE); /* already f32 */
    attrs.dtype = (vkh_dtype)7;
    CHECK_STATUS(vkh_builder_op(b, "cast", &in, 1, &attrs, &half), VKH_ERROR_INVALID_ARGUMENT);
    attrs.dtype = VKH_F16;
    CHECK_OK(vkh_builder_op(b, "cast", &in, 1, &attrs, &half));
    int64_t got_shape[VKH_MAX_DIMS];
    int32_t ndim = 0;
    vkh_dtype dtype = VKH_F32;
    CHECK_OK(vkh_builder_value_shape(b, half, got_shape, &ndim, &dtype));
    CHECK(ndim == 1 && got_shape[0] == N && dtype == VKH_F16);
    vkh_value pair[2] = {half, z};
    CHECK_OK(vkh_builder_op(b, "mse_loss", pair, 2, NULL, &loss));
    CHECK_OK(vkh_builder_grad(b, loss, &in, 1, 1.0f, &grad)); /* 2 y / N, rounded to fp16, cast to f32 */
    vkh_value values[1] = {half};
    vkh_tensor tensors[1] = {ty};
    vkh_program p = NULL;
    CHECK_OK(vkh_program_create(b, values, tensors, 1, &p));
    CHECK_OK(vkh_program_run(p));
    CHECK_OK(vkh_program_wait(p));
    CHECK_OK(vkh_tensor_download_f32(ty, y, N));
    for (int i = 0; i < N - 1; ++i) CHECK(y[i] == round_f16(x[i]));
    CHECK(isinf(y[N - 1]) && y[N - 1] > 0);
    vkh_program_free(p);
    p = NULL;
    vkh_value gvalues[1] = {grad};
    vkh_tensor gtensors[1] = {tdx};
    CHECK_OK(vkh_program_create(b, gvalues, gtensors, 1, &p));
    CHECK_OK(vkh_program_run(p));
    CHECK_OK(vkh_program_wait(p));
    CHECK_OK(vkh_tensor_download_f32(tdx, dx, N));
    for (int i = 0; i < 4; ++i) CHECK(dx[i] == round_f16(2.0f * round_f16(x[i]) / N));
    vkh_program_free(p);
    vkh_builder_free(b);
    vkh_tensor_free(tx), vkh_tensor_free(ty), vkh_tensor_free(tz), vkh_tensor_free(tdx);
}

int main(int argc, char** argv) {
    const char* checkpoint = argc > 1 ? argv[1] : "capi_test.safetensors";
    test_errors_without_device();

    vkh_context ctx = NULL;
    CHECK_OK(vkh_context_create(NULL, &ctx));
    if (!ctx) {
        fprintf(stderr, "no Vulkan device: %s\n", vkh_last_error());
        return 1;
    }
    vkh_device_info info;
    CHECK_OK(vkh_context_get_info(ctx, &info));
    CHECK(info.name[0] != '\0' && strstr(info.tiers, "f32") != NULL);
    printf("device %u: %s, tiers %s\n", info.index, info.name, info.tiers);
    uint32_t devices = 0;
    CHECK_OK(vkh_device_count(&devices));
    CHECK(devices > info.index);
    CHECK_STATUS(vkh_device_get_info(devices, &info), VKH_ERROR_INVALID_ARGUMENT);

    test_tensors(ctx);
    test_gemm(ctx);
    test_conv_and_activations(ctx);
    test_training(ctx, checkpoint);
    test_regression(ctx);
    test_tokens(ctx);
    test_autograd(ctx);
    test_program_outputs_over_leaves(ctx);
    test_embedding(ctx);
    test_attention(ctx);
    test_cast(ctx);

    /* a tensor of another context is refused */
    vkh_context ctx2 = NULL;
    CHECK_OK(vkh_context_create(NULL, &ctx2));
    const int64_t shape[2] = {2, 2};
    vkh_tensor a = tensor(ctx2, 2, shape, VKH_F32, NULL), c = tensor(ctx, 2, shape, VKH_F32, NULL);
    CHECK_STATUS(vkh_gemm(ctx, a, a, c, NULL), VKH_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(vkh_last_error(), "another vkh_context") != NULL);
    size_t messages2 = 1;
    CHECK_OK(vkh_context_validation_message_count(ctx2, &messages2));
    CHECK(messages2 == 0);
    vkh_context_free(ctx2); /* before its tensor: the tensor keeps the device */
    vkh_tensor_free(a);
    vkh_tensor_free(c);

    size_t messages = 1;
    CHECK_OK(vkh_context_validation_message_count(ctx, &messages));
    CHECK(messages == 0);
    vkh_context_free(ctx);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
