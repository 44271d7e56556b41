// The C API of the autograd graph: vkh_builder_op binds every forward op of the registry once, by
// name, through Builder::apply; gradients and programs map one to one onto Builder and Program.
#include <algorithm>

#include "capi/handles.hpp"
#include "vkhalf/autograd.hpp"

using namespace vkhalf;
using namespace vkhalf::capi;

namespace {

vkh_value add_value(vkh_builder_s& b, Value v) {
    b.values.push_back(v);
    return vkh_value(b.values.size() - 1);
}

const Value& value_of(const vkh_builder_s& b, vkh_value v, const char* arg) {
    if (v < 0 || std::size_t(v) >= b.values.size())
        throw InvalidArgument(std::string(arg) + " = " + std::to_string(v) + " is not a value of this builder (it has " +
                              std::to_string(b.values.size()) + ")");
    return b.values[std::size_t(v)];
}

void check_count(int32_t count, const char* arg) {
    if (count < 0) throw InvalidArgument(std::string(arg) + " is negative");
}

std::string name_or(const char* name, const char* fallback) { return name ? std::string(name) : std::string(fallback); }

OpAttributes attributes(const vkh_op_attrs* a) {
    OpAttributes o;
    if (!a) return o;
    o.trans_a = a->trans_a != 0;
    o.trans_b = a->trans_b != 0;
    o.alpha = a->alpha;
    switch (a->activation) {
    case VKH_GELU: o.activation = Activation::gelu; break;
    case VKH_TANH: o.activation = Activation::tanh; break;
    case VKH_SIGMOID: o.activation = Activation::sigmoid; break;
    case VKH_GELU_TANH: o.activation = Activation::gelu_tanh; break;
    default:
        throw InvalidArgument("attrs.activation must be VKH_GELU, VKH_TANH, VKH_SIGMOID or VKH_GELU_TANH (relu is "
                              "its own op)");
    }
    if (a->ndim < 0 || a->ndim > VKH_MAX_DIMS)
        throw InvalidArgument("attrs.ndim " + std::to_string(a->ndim) + " is not in [0, " +
                              std::to_string(VKH_MAX_DIMS) + "]");
    o.shape.assign(a->shape, a->shape + a->ndim);
    o.conv = conv2d_params(&a->conv);
    const vkh_pool2d_params& p = a->pool;
    if (p.kh < 1 || p.kw < 1 || p.stride_h < 1 || p.stride_w < 1 || p.pad_h < 0 || p.pad_w < 0)
        throw InvalidArgument("attrs.pool: window and stride must be at least 1, padding not negative");
    o.pool = {p.kh, p.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w};
    o.eps = a->eps;
    o.heads = a->heads;
    o.dtype = to_dtype(a->dtype);
    return o;
}

vkh_status leaf(const char* fn, vkh_builder b, vkh_tensor t, const char* name, int32_t requires_grad, vkh_value* out,
                bool parameter) {
    return guard(fn, [&] {
        vkh_builder_s& h = handle(b, "b");
        const Tensor& tensor = tensor_on(t, *h.ctx, "t");
        non_null(out, "out");
        const Value v = parameter ? h.builder->parameter(tensor, name_or(name, "parameter"), requires_grad != 0)
                                  : h.builder->input(tensor, name_or(name, "input"), requires_grad != 0);
        *out = add_value(h, v);
    });
}

} // namespace

extern "C" {

vkh_status vkh_builder_create(vkh_context ctx, vkh_builder* out) {
    return guard("vkh_builder_create", [&] {
        auto h = std::make_unique<vkh_builder_s>();
        h->ctx = handle(ctx, "ctx").ctx;
        h->builder = std::make_unique<Builder>(*h->ctx);
        *non_null(out, "out") = h.release();
    });
}

void vkh_builder_free(vkh_builder b) { release(b); }

vkh_status vkh_builder_input(vkh_builder b, vkh_tensor t, const char* name, int32_t requires_grad, vkh_value* out) {
    return leaf("vkh_builder_input", b, t, name, requires_grad, out, false);
}

vkh_status vkh_builder_parameter(vkh_builder b, vkh_tensor t, const char* name, int32_t requires_grad,
                                 vkh_value* out) {
    return leaf("vkh_builder_parameter", b, t, name, requires_grad, out, true);
}

void vkh_op_attrs_init(vkh_op_attrs* attrs) {
    if (!attrs) return;
    *attrs = vkh_op_attrs{};
    attrs->alpha = 1.0f;
    attrs->activation = VKH_GELU;
    vkh_conv2d_params_init(&attrs->conv);
    attrs->pool = {2, 2, 2, 2, 0, 0};
    attrs->eps = 1e-5f;
    attrs->heads = 1;
    attrs->dtype = VKH_F32;
}

vkh_status vkh_builder_op(vkh_builder b, const char* op, const vkh_value* inputs, int32_t count,
                          const vkh_op_attrs* attrs, vkh_value* out) {
    return guard("vkh_builder_op", [&] {
        vkh_builder_s& h = handle(b, "b");
        non_null(op, "op");
        check_count(count, "count");
        if (count > 0) non_null(inputs, "inputs");
        non_null(out, "out");
        std::vector<Value> in;
        for (int32_t i = 0; i < count; ++i) in.push_back(value_of(h, inputs[i], "inputs[i]"));
        *out = add_value(h, h.builder->apply(op, in, attributes(attrs)));
    });
}

vkh_status vkh_builder_grad(vkh_builder b, vkh_value loss, const vkh_value* wrt, int32_t count, float seed,
                            vkh_value* grads) {
    return guard("vkh_builder_grad", [&] {
        vkh_builder_s& h = handle(b, "b");
        check_count(count, "count");
        if (count > 0) {
            non_null(wrt, "wrt");
            non_null(grads, "grads");
        }
        std::vector<Value> w;
        for (int32_t i = 0; i < count; ++i) w.push_back(value_of(h, wrt[i], "wrt[i]"));
        const std::vector<Value> g = h.builder->grad(value_of(h, loss, "loss"), w, seed);
        for (std::size_t i = 0; i < g.size(); ++i) grads[i] = add_value(h, g[i]);
    });
}

vkh_status vkh_builder_value_shape(vkh_builder b, vkh_value v, int64_t* shape, int32_t* ndim, vkh_dtype* dtype) {
    return guard("vkh_builder_value_shape", [&] {
        const Value& value = value_of(handle(b, "b"), v, "v");
        const Shape& s = value.shape();
        if (shape) std::copy(s.begin(), s.end(), shape);
        if (ndim) *ndim = int32_t(s.size());
        if (dtype) *dtype = value.dtype() == DType::f32 ? VKH_F32 : value.dtype() == DType::f16 ? VKH_F16 : VKH_U32;
    });
}

vkh_status vkh_program_create(vkh_builder b, const vkh_value* values, const vkh_tensor* tensors, int32_t count,
                              vkh_program* out) {
    return guard("vkh_program_create", [&] {
        vkh_builder_s& h = handle(b, "b");
        check_count(count, "count");
        if (count > 0) {
            non_null(values, "values");
            non_null(tensors, "tensors");
        }
        non_null(out, "out");
        std::vector<Binding> outputs;
        for (int32_t i = 0; i < count; ++i)
            outputs.push_back({value_of(h, values[i], "values[i]"), tensor_on(tensors[i], *h.ctx, "tensors[i]")});
        auto p = std::make_unique<vkh_program_s>();
        p->ctx = h.ctx;
        p->program = std::make_unique<Program>(*h.builder, std::move(outputs));
        *out = p.release();
    });
}

void vkh_program_free(vkh_program p) {
    if (!p || p->kind != Kind::program) return;
    try {
        p->program->wait();
    } catch (...) {  // a lost device: nothing to wait for
    }
    release(p);
}

vkh_status vkh_program_run(vkh_program p) {
    return guard("vkh_program_run", [&] { handle(p, "p").program->run(); });
}

vkh_status vkh_program_wait(vkh_program p) {
    return guard("vkh_program_wait", [&] { handle(p, "p").program->wait(); });
}

} // extern "C"
