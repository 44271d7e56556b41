#pragma once
// The buffer range a tensor (or a view) occupies: what dispatches bind and copies address.
#include "runtime/command_list.hpp"
#include "vkhalf/tensor.hpp"

namespace vkhalf::detail {

inline BufferRange range_of(const Tensor& t) {
    const Allocation& a = t.allocation();
    return {a.buffer(), a.offset + t.byte_offset(), (t.bytes() + 3) / 4 * 4};
}

inline BufferAccess read(const Tensor& t) { return {range_of(t), Access::read}; }
inline BufferAccess write(const Tensor& t) { return {range_of(t), Access::write}; }
inline BufferAccess read_write(const Tensor& t) { return {range_of(t), Access::read_write}; }

} // namespace vkhalf::detail
