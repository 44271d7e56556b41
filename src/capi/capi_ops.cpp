// C API: eager operations (each records, submits and waits). Recorded steps are built with
// vkh_builder_* and compiled into a vkh_program (capi_autograd.cpp).
#include "capi/handles.hpp"

using namespace vkhalf;
using namespace vkhalf::capi;

namespace vkhalf::capi {

Conv2dParams conv2d_params(const vkh_conv2d_params* p) {
    Conv2dParams c;
    if (!p) return c;
    if (p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 || p->dil_w < 1 || p->pad_h < 0 || p->pad_w < 0 ||
        p->groups < 0)
        throw InvalidArgument("conv2d params need stride >= 1, dilation >= 1, padding >= 0 and groups >= 0");
    c.stride_h = p->stride_h;
    c.stride_w = p->stride_w;
    c.pad_h = p->pad_h;
    c.pad_w = p->pad_w;
    c.dil_h = p->dil_h;
    c.dil_w = p->dil_w;
    c.groups = p->groups == 0 ? 1 : p->groups;  // a struct from before 0.2.0's field, zero-filled
    return c;
}

} // namespace vkhalf::capi

namespace {

GemmOptions gemm_options(const vkh_gemm_options* o, const Tensor* bias) {
    GemmOptions g;
    if (!o) return g;
    if (o->bias_mode != VKH_BIAS_PER_COLUMN && o->bias_mode != VKH_BIAS_PER_ROW)
        throw InvalidArgument("bias_mode " + std::to_string(int(o->bias_mode)) + " is not a vkh_bias_mode");
    g.trans_a = o->trans_a != 0;
    g.trans_b = o->trans_b != 0;
    g.alpha = o->alpha;
    g.beta = o->beta;
    g.bias = bias;
    g.bias_mode = o->bias_mode == VKH_BIAS_PER_ROW ? BiasMode::per_row : BiasMode::per_column;
    g.relu = o->relu != 0;
    return g;
}

void check_activation(vkh_activation f) {
    if (f != VKH_RELU && f != VKH_GELU && f != VKH_TANH && f != VKH_SIGMOID && f != VKH_GELU_TANH)
        throw InvalidArgument("activation " + std::to_string(int(f)) + " is not a vkh_activation");
}

Activation to_activation(vkh_activation f) {
    return f == VKH_GELU ? Activation::gelu
           : f == VKH_TANH ? Activation::tanh
           : f == VKH_GELU_TANH ? Activation::gelu_tanh
                                : Activation::sigmoid;
}

} // namespace

extern "C" {

void vkh_gemm_options_init(vkh_gemm_options* options) {
    if (options) *options = vkh_gemm_options{0, 0, 1.0f, 0.0f, nullptr, VKH_BIAS_PER_COLUMN, 0};
}

void vkh_conv2d_params_init(vkh_conv2d_params* params) {
    if (params) *params = vkh_conv2d_params{1, 1, 0, 0, 1, 1, 1};
}

vkh_status vkh_gemm(vkh_context ctx, vkh_tensor a, vkh_tensor b, vkh_tensor c, const vkh_gemm_options* options) {
    return guard("vkh_gemm", [&] {
        Context& cx = *handle(ctx, "ctx").ctx;
        const Tensor* bias = options && options->bias ? &tensor_on(options->bias, cx, "options->bias") : nullptr;
        Tensor y = tensor_on(c, cx, "c");
        gemm(cx, tensor_on(a, cx, "a"), tensor_on(b, cx, "b"), y, gemm_options(options, bias));
    });
}

vkh_status vkh_conv2d(vkh_context ctx, vkh_tensor x, vkh_tensor w, vkh_tensor bias, vkh_tensor y,
                      const vkh_conv2d_params* params, int32_t relu) {
    return guard("vkh_conv2d", [&] {
        Context& cx = *handle(ctx, "ctx").ctx;
        const Tensor* b = bias ? &tensor_on(bias, cx, "bias") : nullptr;
        Tensor out = tensor_on(y, cx, "y");
        conv2d(cx, tensor_on(x, cx, "x"), tensor_on(w, cx, "w"), b, out, conv2d_params(params), relu != 0);
    });
}

vkh_status vkh_conv2d_backward_data(vkh_context ctx, vkh_tensor dy, vkh_tensor w, vkh_tensor dx,
                                    const vkh_conv2d_params* params) {
    return guard("vkh_conv2d_backward_data", [&] {
        Context& cx = *handle(ctx, "ctx").ctx;
        Tensor out = tensor_on(dx, cx, "dx");
        conv2d_backward_data(cx, tensor_on(dy, cx, "dy"), tensor_on(w, cx, "w"), out, conv2d_params(params));
    });
}

vkh_status vkh_conv2d_backward_weight(vkh_context ctx, vkh_tensor dy, vkh_tensor x, vkh_tensor dw,
                                      const vkh_conv2d_params* params) {
    return guard("vkh_conv2d_backward_weight", [&] {
        Context& cx = *handle(ctx, "ctx").ctx;
        Tensor out = tensor_on(dw, cx, "dw");
        conv2d_backward_weight(cx, tensor_on(dy, cx, "dy"), tensor_on(x, cx, "x"), out, conv2d_params(params));
    });
}

vkh_status vkh_conv2d_output_shape(vkh_tensor x, vkh_tensor w, const vkh_conv2d_params* params, int64_t out_shape[4]) {
    return guard("vkh_conv2d_output_shape", [&] {
        const Shape s = conv2d_output_shape(handle(x, "x").tensor.shape(), handle(w, "w").tensor.shape(), conv2d_params(params));
        std::copy(s.begin(), s.end(), non_null(out_shape, "out_shape"));
    });
}

vkh_status vkh_activation_forward(vkh_context ctx, vkh_activation f, vkh_tensor x, vkh_tensor y) {
    return guard("vkh_activation_forward", [&] {
        Context& cx = *handle(ctx, "ctx").ctx;
        check_activation(f);
        Tensor out = tensor_on(y, cx, "y");
        if (f == VKH_RELU) relu(cx, tensor_on(x, cx, "x"), out);
        else activation_forward(cx, to_activation(f), tensor_on(x, cx, "x"), out);
    });
}

vkh_status vkh_activation_backward(vkh_context ctx, vkh_activation f, vkh_tensor dy, vkh_tensor x, vkh_tensor dx) {
    return guard("vkh_activation_backward", [&] {
        Context& cx = *handle(ctx, "ctx").ctx;
        check_activation(f);
        Tensor out = tensor_on(dx, cx, "dx");
        if (f == VKH_RELU) relu_backward(cx, tensor_on(dy, cx, "dy"), tensor_on(x, cx, "x"), out);
        else activation_backward(cx, to_activation(f), tensor_on(dy, cx, "dy"), tensor_on(x, cx, "x"), out);
    });
}

vkh_status vkh_mse_loss(vkh_context ctx, vkh_tensor y, vkh_tensor target, vkh_tensor loss, vkh_tensor dy, float scale) {
    return guard("vkh_mse_loss", [&] {
        Context& cx = *handle(ctx, "ctx").ctx;
        Tensor l = tensor_on(loss, cx, "loss");
        Tensor d = dy ? tensor_on(dy, cx, "dy") : Tensor{};
        mse_loss(cx, tensor_on(y, cx, "y"), tensor_on(target, cx, "target"), l, dy ? &d : nullptr, scale);
    });
}

} // extern "C"
