// Host side of shaders/dropout.comp: dropout forward/backward with a Philox mask, and the
// rng_state advance.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>

#include "kernels/activations_record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {
namespace detail {

namespace {

struct DropoutPush {
    uint32_t n;
    uint32_t threshold;  // keep when the Philox word >= threshold
    uint32_t drop_all;   // p == 1
    float scale;         // fp32(1 / (1 - p))
};

// x: the data operand named in messages (x or dy), or null for the advance alone.
void check_rng_state(const std::string& op, const Tensor& rng_state, const Tensor* x, const char* x_name) {
    check_defined(op, rng_state, "rng_state");
    if (rng_state.dtype() != DType::u32)
        throw DTypeError(op + ": rng_state is " + std::string(to_string(rng_state.dtype())) +
                         (x ? " (" + std::string(x_name) + " is " + std::string(to_string(x->dtype())) + ")" : "") +
                         "; expected u32 {seed, offset}");
    if (rng_state.shape() != Shape{2})
        throw ShapeError(op + ": rng_state has shape " + to_string(rng_state.shape()) +
                         (x ? " (" + std::string(x_name) + " has " + to_string(x->shape()) + ")" : "") +
                         "; expected [2] = {seed, offset}");
}

// backward: the same kernel on dy -> dx; only the names in errors and labels differ.
void record(CommandList& cl, ContextImpl& ctx, bool backward, const Tensor& x, Tensor& y, float p, Tensor& rng_state,
            RngAdvance advance, const OpOptions& opt) {
    const std::string name = backward ? "dropout_backward" : "dropout";
    check_defined(name, x, backward ? "dy" : "x");
    check_defined(name, y, backward ? "dx" : "y");
    check_same_shape(name, x, y);
    check_same_dtype(name, x, y);
    check_rng_state(name, rng_state, &x, backward ? "dy" : "x");
    if (!(p >= 0.0f && p <= 1.0f))  // also rejects NaN
        throw Error(name + ": p = " + std::to_string(p) + " (expected 0 <= p <= 1)");
    if (x.numel() > std::numeric_limits<int32_t>::max())
        throw LimitError(name + ": " + std::to_string(x.numel()) + " elements exceed 2^31");
    const Variant v = resolve_variant(name, ctx.caps, x.dtype(), opt);

    DropoutPush push{static_cast<uint32_t>(x.numel()), 0, 0, 0.0f};
    if (p < 1.0f) {
        // u = w / 2^32 >= p  <=>  w >= p * 2^32  <=>  w >= ceil(p * 2^32): exact in double, and at
        // most 2^32 - 2^8 (the largest float below 1 is 1 - 2^-24).
        push.threshold = static_cast<uint32_t>(std::ceil(static_cast<double>(p) * 4294967296.0));
        push.scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p)));
    } else {
        push.drop_all = 1;
    }
    const uint32_t wg = workgroup_size(ctx.caps);
    const Pipeline& pipe = ctx.pipelines->get({module_name("dropout", v), 3, sizeof(DropoutPush), wg, {{1, 0u}}});
    // The state's binding is writable (the advance mode writes it): it counts as written here too.
    const BufferAccess buffers[] = {read(x), read_write(rng_state), write(y)};
    const uint64_t pairs = ceil_div(static_cast<uint64_t>(x.numel()), 2);
    cl.dispatch(pipe, buffers, &push, sizeof(push), ceil_div(pairs, wg), name + "." + std::string(to_string(v)));
    if (advance == RngAdvance::advance) record_rng_advance(cl, ctx, rng_state, static_cast<uint32_t>(x.numel()));
}

} // namespace

void record_dropout(CommandList& cl, ContextImpl& ctx, const Tensor& x, Tensor& y, float p, Tensor& rng_state,
                    RngAdvance advance, const OpOptions& opt) {
    record(cl, ctx, false, x, y, p, rng_state, advance, opt);
}

void record_dropout_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, Tensor& dx, float p,
                             Tensor& rng_state, RngAdvance advance, const OpOptions& opt) {
    record(cl, ctx, true, dy, dx, p, rng_state, advance, opt);
}

void record_rng_advance(CommandList& cl, ContextImpl& ctx, Tensor& rng_state, uint32_t count) {
    check_rng_state("advance_rng_state", rng_state, nullptr, "");
    if (count == 0) return;
    // The f32 module serves every dtype: ADVANCE touches only the state. The state is bound to all
    // three bindings so the dispatch reads and writes nothing else (no false hazards on x or y).
    const Pipeline& pipe =
        ctx.pipelines->get({module_name("dropout", Variant::f32), 3, sizeof(DropoutPush), 1, {{1, 1u}}});
    const DropoutPush push{count, 0, 0, 0.0f};
    const BufferAccess buffers[] = {read(rng_state), read_write(rng_state), write(rng_state)};
    cl.dispatch(pipe, buffers, &push, sizeof(push), 1, "dropout.advance");
}

} // namespace detail

Tensor make_rng_state(Context& ctx, uint32_t seed, uint32_t offset) {
    Tensor t = Tensor::empty(ctx, {2}, DType::u32);
    const uint32_t words[2] = {seed, offset};
    t.upload_bytes(std::as_bytes(std::span(words)));
    return t;
}

void dropout(Context& ctx, const Tensor& x, Tensor& y, float p, Tensor& rng_state, RngAdvance advance,
             OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_dropout(cl, ctx.impl(), x, y, p, rng_state, advance, opt);
    cl.submit_and_wait();
}

void dropout_backward(Context& ctx, const Tensor& dy, Tensor& dx, float p, Tensor& rng_state, RngAdvance advance,
                      OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_dropout_backward(cl, ctx.impl(), dy, dx, p, rng_state, advance, opt);
    cl.submit_and_wait();
}

void advance_rng_state(Context& ctx, Tensor& rng_state, uint32_t count) {
    detail::CommandList cl(ctx.impl());
    detail::record_rng_advance(cl, ctx.impl(), rng_state, count);
    cl.submit_and_wait();
}

} // namespace vkhalf
