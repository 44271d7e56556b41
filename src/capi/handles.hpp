#pragma once
// What the C API's opaque handles hold, and the guard every entry point runs in: arguments are
// checked here (NULL, a handle of another kind or one already freed), and every C++ exception
// becomes a status code plus the thread's last-error message, so nothing escapes into C.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "vkhalf/error.hpp"
#include "vkhalf/train.hpp"
#include "vkhalf/vkhalf.h"

namespace vkhalf::capi {

// A bad argument in the C sense (NULL, wrong handle, value out of range): VKH_ERROR_INVALID_ARGUMENT.
class InvalidArgument : public Error {
    using Error::Error;
};

// Each handle starts with a tag saying what it is; free() clears it, so a handle passed where
// another kind is expected (every handle is a void* to ctypes) or used after free is refused
// while its memory has not been reused.
enum class Kind : uint32_t {
    freed = 0,
    context = 0x766b6301,
    tensor = 0x766b6302,
    // 0x766b6303 was vkh_graph (removed in 0.5.0); not reused, so a stale handle stays refused
    model = 0x766b6304,
    dataset = 0x766b6305,
    trainer = 0x766b6306,
    builder = 0x766b6307,
    program = 0x766b6308,
};

} // namespace vkhalf::capi

struct vkh_context_s {
    vkhalf::capi::Kind kind = vkhalf::capi::Kind::context;
    std::shared_ptr<vkhalf::Context> ctx;
};

struct vkh_tensor_s {
    vkhalf::capi::Kind kind = vkhalf::capi::Kind::tensor;
    vkhalf::Tensor tensor;  // its allocation keeps the device alive
};

struct vkh_model_s {
    vkhalf::capi::Kind kind = vkhalf::capi::Kind::model;
    std::shared_ptr<vkhalf::Sequential> model = std::make_shared<vkhalf::Sequential>();
    bool bound = false;  // given to a trainer: its layers are recorded and fixed
    std::vector<std::string> frozen;  // name prefixes (vkh_model_freeze)
};

struct vkh_dataset_s {
    vkhalf::capi::Kind kind = vkhalf::capi::Kind::dataset;
    std::shared_ptr<vkhalf::Context> ctx;
    vkhalf::DeviceDataset data;
};

struct vkh_builder_s {
    vkhalf::capi::Kind kind = vkhalf::capi::Kind::builder;
    std::shared_ptr<vkhalf::Context> ctx;
    std::unique_ptr<vkhalf::Builder> builder;
    std::vector<vkhalf::Value> values;  // by vkh_value: the builder's own ids
};

struct vkh_program_s {
    vkhalf::capi::Kind kind = vkhalf::capi::Kind::program;
    std::shared_ptr<vkhalf::Context> ctx;
    std::unique_ptr<vkhalf::Program> program;
};

struct vkh_trainer_s {
    vkhalf::capi::Kind kind = vkhalf::capi::Kind::trainer;
    std::shared_ptr<vkhalf::Context> ctx;
    std::shared_ptr<vkhalf::Sequential> model;
    std::unique_ptr<vkhalf::Trainer> trainer;  // last: destroyed before the model and context
};

namespace vkhalf::capi {

template <typename H> constexpr Kind kind_of();
template <> constexpr Kind kind_of<vkh_context_s>() { return Kind::context; }
template <> constexpr Kind kind_of<vkh_tensor_s>() { return Kind::tensor; }
template <> constexpr Kind kind_of<vkh_model_s>() { return Kind::model; }
template <> constexpr Kind kind_of<vkh_dataset_s>() { return Kind::dataset; }
template <> constexpr Kind kind_of<vkh_trainer_s>() { return Kind::trainer; }
template <> constexpr Kind kind_of<vkh_builder_s>() { return Kind::builder; }
template <> constexpr Kind kind_of<vkh_program_s>() { return Kind::program; }

const char* kind_name(Kind k);

// The handle, or InvalidArgument naming the argument when it is NULL or not a live H.
template <typename H> H& handle(H* h, const char* arg) {
    if (!h) throw InvalidArgument(std::string(arg) + " is NULL");
    if (h->kind != kind_of<H>())
        throw InvalidArgument(std::string(arg) + " is not a live " + kind_name(kind_of<H>()) + " handle" +
                              (h->kind == Kind::freed ? " (already freed)" : ""));
    return *h;
}
// An optional tensor argument: nullptr for NULL.
const Tensor* optional_tensor(vkh_tensor t, const char* arg);
template <typename P> P* non_null(P* p, const char* arg) {
    if (!p) throw InvalidArgument(std::string(arg) + " is NULL");
    return p;
}
// A tensor argument that must live on ctx's device.
const Tensor& tensor_on(vkh_tensor t, const Context& ctx, const char* arg);

// InvalidArgument for a value outside the enum.
DType to_dtype(vkh_dtype d);

// Conv2dParams from the C struct (NULL: the defaults); InvalidArgument for a stride or dilation
// below 1 or a negative padding.
Conv2dParams conv2d_params(const vkh_conv2d_params* p);

// Runs f; maps exceptions to statuses and sets the thread's last error to "<fn>: <message>"
// (empty on success).
vkh_status guarded(const char* fn, void (*body)(void*), void* closure);
template <typename F> vkh_status guard(const char* fn, F&& f) {
    return guarded(fn, [](void* c) { (*static_cast<F*>(c))(); }, &f);
}

// Frees a handle of kind H (NULL and non-handles are ignored: free functions return nothing).
template <typename H> void release(H* h) {
    if (!h || h->kind != kind_of<H>()) return;
    h->kind = Kind::freed;
    delete h;
}

} // namespace vkhalf::capi
