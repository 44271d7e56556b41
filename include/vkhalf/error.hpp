#pragma once
// vkhalf::Error and its subclasses: every failure the library reports. Messages name the op, the
// shapes or limits involved, and what was expected.
#include <stdexcept>
#include <string>

namespace vkhalf {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Tensor shapes (or element counts) that do not fit the op.
class ShapeError : public Error { using Error::Error; };
// A dtype the op does not accept, or operands whose dtypes disagree.
class DTypeError : public Error { using Error::Error; };
// The device (or this build) lacks a feature the request needs.
class UnsupportedError : public Error { using Error::Error; };
// A request exceeds a device limit (maxStorageBufferRange, workgroup counts, ...).
class LimitError : public Error { using Error::Error; };
// Device or host memory ran out, or a request is larger than the memory heap.
class OutOfMemoryError : public Error {
public:
    OutOfMemoryError(const std::string& what, bool device) : Error(what), device_(device) {}
    bool device_memory() const { return device_; }
private:
    bool device_;
};
// VK_ERROR_DEVICE_LOST: the device is unusable; the Context must be recreated.
class DeviceLostError : public Error { using Error::Error; };
// Any other Vulkan failure, with the call and the VkResult name in the message.
class VulkanError : public Error {
public:
    VulkanError(const std::string& what, int result) : Error(what), result_(result) {}
    int vk_result() const { return result_; }
private:
    int result_;
};
// Non-finite numbers where training needs finite ones: inputs that normalise to inf/NaN, an update
// that would write inf/NaN into the weights, or step after step of non-finite gradients (also at
// the minimum loss scale). Training cannot make progress; the last checkpoint is the way back.
class NumericalError : public Error { using Error::Error; };
// A file that is missing, unreadable or corrupt.
class IoError : public Error { using Error::Error; };
// Data-parallel training: the ranks disagree (model, data, settings, weights), or a peer failed or
// timed out. The message names the ranks.
class DistributedError : public Error { using Error::Error; };

} // namespace vkhalf
