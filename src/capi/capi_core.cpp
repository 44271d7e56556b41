// C API: errors, devices, contexts and tensors.
#include <algorithm>
#include <cstring>
#include <new>

#include "capi/handles.hpp"
#include "runtime/memory.hpp"
#include "vkhalf/build_config.hpp"

using namespace vkhalf;
using namespace vkhalf::capi;

namespace vkhalf::capi {

namespace {
thread_local std::string last_error;

vkh_status fail(const char* fn, vkh_status status, const char* what) {
    try {
        last_error = std::string(fn) + ": " + what;
    } catch (...) {  // no memory even for the message: keep the status
        last_error.clear();
    }
    return status;
}
} // namespace

vkh_status guarded(const char* fn, void (*body)(void*), void* closure) {
    try {
        body(closure);
        last_error.clear();
        return VKH_OK;
    } catch (const InvalidArgument& e) {
        return fail(fn, VKH_ERROR_INVALID_ARGUMENT, e.what());
    } catch (const ShapeError& e) {
        return fail(fn, VKH_ERROR_SHAPE, e.what());
    } catch (const DTypeError& e) {
        return fail(fn, VKH_ERROR_DTYPE, e.what());
    } catch (const UnsupportedError& e) {
        return fail(fn, VKH_ERROR_UNSUPPORTED, e.what());
    } catch (const LimitError& e) {
        return fail(fn, VKH_ERROR_LIMIT, e.what());
    } catch (const OutOfMemoryError& e) {
        return fail(fn, VKH_ERROR_OUT_OF_MEMORY, e.what());
    } catch (const DeviceLostError& e) {
        return fail(fn, VKH_ERROR_DEVICE_LOST, e.what());
    } catch (const VulkanError& e) {
        return fail(fn, VKH_ERROR_VULKAN, e.what());
    } catch (const IoError& e) {
        return fail(fn, VKH_ERROR_IO, e.what());
    } catch (const NumericalError& e) {
        return fail(fn, VKH_ERROR_NUMERICAL, e.what());
    } catch (const std::bad_alloc&) {
        return fail(fn, VKH_ERROR_OUT_OF_MEMORY, "out of host memory");
    } catch (const std::exception& e) {
        // vkhalf::Error itself: the library's own checks that have no finer class
        return fail(fn, dynamic_cast<const Error*>(&e) ? VKH_ERROR_INVALID_ARGUMENT : VKH_ERROR_INTERNAL, e.what());
    } catch (...) {
        return fail(fn, VKH_ERROR_INTERNAL, "unknown exception");
    }
}

const char* kind_name(Kind k) {
    switch (k) {
    case Kind::context: return "vkh_context";
    case Kind::tensor: return "vkh_tensor";
    case Kind::model: return "vkh_model";
    case Kind::dataset: return "vkh_dataset";
    case Kind::trainer: return "vkh_trainer";
    case Kind::builder: return "vkh_builder";
    case Kind::program: return "vkh_program";
    case Kind::freed: break;
    }
    return "freed";
}

const Tensor* optional_tensor(vkh_tensor t, const char* arg) { return t ? &handle(t, arg).tensor : nullptr; }

const Tensor& tensor_on(vkh_tensor t, const Context& ctx, const char* arg) {
    const Tensor& tensor = handle(t, arg).tensor;
    if (tensor.allocation().owner != ctx.shared_impl())
        throw InvalidArgument(std::string(arg) + " belongs to another vkh_context");
    return tensor;
}

DType to_dtype(vkh_dtype d) {
    switch (d) {
    case VKH_F32: return DType::f32;
    case VKH_F16: return DType::f16;
    case VKH_U32: return DType::u32;
    case VKH_DTYPE_MAX_ENUM: break;
    }
    throw InvalidArgument("dtype " + std::to_string(int(d)) + " is not VKH_F32, VKH_F16 or VKH_U32");
}

} // namespace vkhalf::capi

namespace {

void copy_string(char* dst, std::size_t capacity, const std::string& src) {
    const std::size_t n = std::min(capacity - 1, src.size());
    std::memcpy(dst, src.data(), n);
    dst[n] = '\0';
}

void fill_info(vkh_device_info& out, uint32_t index, const DeviceCaps& caps) {
    out = vkh_device_info{};
    out.index = index;
    copy_string(out.name, sizeof out.name, caps.name);
    copy_string(out.driver, sizeof out.driver, caps.driver);
    out.vendor_id = caps.vendor_id;
    out.device_id = caps.device_id;
    out.api_version = caps.api_version;
    out.is_cpu = caps.is_cpu;
    out.storage16 = caps.storage16;
    out.float16_arith = caps.float16_arith;
    out.cooperative_matrix = caps.supports(Variant::coopmat);
    out.subgroup_size = caps.subgroup_size;
    out.device_local_bytes = caps.device_local_heap;
    std::string tiers;
    for (Variant v : {Variant::f32, Variant::f16p, Variant::f16s, Variant::f16a, Variant::coopmat})
        if (caps.supports(v)) tiers += (tiers.empty() ? "" : " ") + std::string(to_string(v));
    copy_string(out.tiers, sizeof out.tiers, tiers);
}

void check_count(const Tensor& t, std::size_t count) {
    if (count != std::size_t(t.numel()))
        throw ShapeError(std::to_string(count) + " values for a tensor of " + std::to_string(t.numel()) + " elements " +
                         to_string(t.shape()));
}

} // namespace

extern "C" {

const char* vkh_last_error(void) { return vkhalf::capi::last_error.c_str(); }

const char* vkh_status_string(vkh_status status) {
    switch (status) {
    case VKH_OK: return "ok";
    case VKH_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case VKH_ERROR_SHAPE: return "shape mismatch";
    case VKH_ERROR_DTYPE: return "unsupported dtype";
    case VKH_ERROR_UNSUPPORTED: return "unsupported by the device";
    case VKH_ERROR_LIMIT: return "over a device limit";
    case VKH_ERROR_OUT_OF_MEMORY: return "out of memory";
    case VKH_ERROR_DEVICE_LOST: return "device lost";
    case VKH_ERROR_VULKAN: return "Vulkan error";
    case VKH_ERROR_IO: return "file error";
    case VKH_ERROR_INTERNAL: return "internal error";
    case VKH_ERROR_NUMERICAL: return "numerical fault";
    case VKH_STATUS_MAX_ENUM: break;
    }
    return "unknown status";
}

const char* vkh_version_string(void) { return VKHALF_VERSION_STRING; }

vkh_status vkh_device_count(uint32_t* count) {
    return guard("vkh_device_count", [&] {
        non_null(count, "count");
        *count = uint32_t(list_devices().size());
    });
}

vkh_status vkh_device_get_info(uint32_t index, vkh_device_info* info) {
    return guard("vkh_device_get_info", [&] {
        non_null(info, "info");
        const auto devices = list_devices();
        if (index >= devices.size())
            throw InvalidArgument("device " + std::to_string(index) + " does not exist (" +
                                  std::to_string(devices.size()) + " devices)");
        fill_info(*info, index, devices[index].caps);
    });
}

void vkh_context_options_init(vkh_context_options* options) {
    if (options) *options = vkh_context_options{-1, nullptr, VKH_VALIDATION_DEFAULT};
}

vkh_status vkh_context_create(const vkh_context_options* options, vkh_context* out) {
    return guard("vkh_context_create", [&] {
        non_null(out, "out");
        ContextOptions co;
        if (options) {
            if (options->device_index < -1) throw InvalidArgument("device_index must be -1 or a device index");
            if (options->device_index >= 0) co.device_index = uint32_t(options->device_index);
            if (options->device_name) co.device_name = options->device_name;
            switch (options->validation) {
            case VKH_VALIDATION_DEFAULT: break;
            case VKH_VALIDATION_OFF: co.validation = Validation::off; break;
            case VKH_VALIDATION_IF_AVAILABLE: co.validation = Validation::if_available; break;
            case VKH_VALIDATION_REQUIRED: co.validation = Validation::required; break;
            default: throw InvalidArgument("validation " + std::to_string(int(options->validation)) + " is not a vkh_validation");
            }
        }
        auto h = std::make_unique<vkh_context_s>();
        h->ctx = std::make_shared<Context>(co);
        *out = h.release();
    });
}

void vkh_context_free(vkh_context ctx) { release(ctx); }

vkh_status vkh_context_get_info(vkh_context ctx, vkh_device_info* info) {
    return guard("vkh_context_get_info", [&] {
        const Context& c = *handle(ctx, "ctx").ctx;
        fill_info(*non_null(info, "info"), c.device_index(), c.caps());
    });
}

vkh_status vkh_context_validation_message_count(vkh_context ctx, size_t* count) {
    return guard("vkh_context_validation_message_count", [&] {
        const Context& c = *handle(ctx, "ctx").ctx;
        *non_null(count, "count") = c.validation_message_count();
    });
}

vkh_status vkh_tensor_create(vkh_context ctx, const int64_t* shape, int32_t ndim, vkh_dtype dtype, vkh_tensor* out) {
    return guard("vkh_tensor_create", [&] {
        Context& c = *handle(ctx, "ctx").ctx;
        non_null(out, "out");
        if (ndim < 1 || ndim > VKH_MAX_DIMS)
            throw InvalidArgument("ndim " + std::to_string(ndim) + " is not in [1, " + std::to_string(VKH_MAX_DIMS) + "]");
        non_null(shape, "shape");
        auto h = std::make_unique<vkh_tensor_s>();
        h->tensor = Tensor::empty(c, Shape(shape, shape + ndim), to_dtype(dtype));
        *out = h.release();
    });
}

void vkh_tensor_free(vkh_tensor t) { release(t); }

vkh_status vkh_tensor_get_dtype(vkh_tensor t, vkh_dtype* dtype) {
    return guard("vkh_tensor_get_dtype", [&] {
        const DType d = handle(t, "t").tensor.dtype();
        *non_null(dtype, "dtype") = d == DType::f32 ? VKH_F32 : d == DType::f16 ? VKH_F16 : VKH_U32;
    });
}

vkh_status vkh_tensor_get_shape(vkh_tensor t, int64_t* shape, int32_t max_dims, int32_t* ndim) {
    return guard("vkh_tensor_get_shape", [&] {
        const Shape& s = handle(t, "t").tensor.shape();
        non_null(ndim, "ndim");
        if (shape) {
            if (max_dims < int32_t(s.size()))
                throw InvalidArgument("max_dims " + std::to_string(max_dims) + " is less than the rank " +
                                      std::to_string(s.size()));
            std::copy(s.begin(), s.end(), shape);
        }
        *ndim = int32_t(s.size());
    });
}

vkh_status vkh_tensor_numel(vkh_tensor t, int64_t* numel) {
    return guard("vkh_tensor_numel", [&] { *non_null(numel, "numel") = handle(t, "t").tensor.numel(); });
}

vkh_status vkh_tensor_upload_f32(vkh_tensor t, const float* values, size_t count) {
    return guard("vkh_tensor_upload_f32", [&] {
        Tensor& tensor = handle(t, "t").tensor;
        check_count(tensor, count);
        non_null(values, "values");
        tensor.upload({values, count});
    });
}

vkh_status vkh_tensor_download_f32(vkh_tensor t, float* values, size_t count) {
    return guard("vkh_tensor_download_f32", [&] {
        const Tensor& tensor = handle(t, "t").tensor;
        check_count(tensor, count);
        non_null(values, "values");
        const std::vector<float> v = tensor.to_floats();
        std::copy(v.begin(), v.end(), values);
    });
}

vkh_status vkh_tensor_upload_u32(vkh_tensor t, const uint32_t* values, size_t count) {
    return guard("vkh_tensor_upload_u32", [&] {
        Tensor& tensor = handle(t, "t").tensor;
        if (tensor.dtype() != DType::u32) throw DTypeError("tensor is " + std::string(to_string(tensor.dtype())) + ", not u32");
        check_count(tensor, count);
        non_null(values, "values");
        tensor.upload_bytes(std::as_bytes(std::span(values, count)));
    });
}

vkh_status vkh_tensor_download_u32(vkh_tensor t, uint32_t* values, size_t count) {
    return guard("vkh_tensor_download_u32", [&] {
        const Tensor& tensor = handle(t, "t").tensor;
        if (tensor.dtype() != DType::u32) throw DTypeError("tensor is " + std::string(to_string(tensor.dtype())) + ", not u32");
        check_count(tensor, count);
        non_null(values, "values");
        tensor.download_bytes(std::as_writable_bytes(std::span(values, count)));
    });
}

vkh_status vkh_tensor_upload_bytes(vkh_tensor t, const void* data, size_t bytes) {
    return guard("vkh_tensor_upload_bytes", [&] {
        Tensor& tensor = handle(t, "t").tensor;
        non_null(data, "data");
        tensor.upload_bytes({static_cast<const std::byte*>(data), bytes});
    });
}

vkh_status vkh_tensor_download_bytes(vkh_tensor t, void* data, size_t bytes) {
    return guard("vkh_tensor_download_bytes", [&] {
        const Tensor& tensor = handle(t, "t").tensor;
        non_null(data, "data");
        tensor.download_bytes({static_cast<std::byte*>(data), bytes});
    });
}

} // extern "C"
