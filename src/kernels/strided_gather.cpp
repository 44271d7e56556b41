// Host side of shaders/strided_gather.comp: the one kernel behind permute, slice, pad and expand.
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

struct GatherPush {
    uint32_t n, rank, offset, unused;
    uint32_t ext[kMaxGatherRank];
    uint32_t stride[kMaxGatherRank];
    int32_t lo[kMaxGatherRank];
    uint32_t in_ext[kMaxGatherRank];
};

} // namespace

void record_strided_gather(CommandList& cl, ContextImpl& ctx, const Tensor& x, Tensor& y, const GatherMap& m,
                           const OpOptions& opt) {
    check_defined("strided_gather", x, "x");
    check_defined("strided_gather", y, "y");
    check_same_dtype("strided_gather", x, y);
    const std::size_t rank = y.shape().size();
    if (rank == 0 || rank > kMaxGatherRank || m.stride.size() != rank || m.lo.size() != rank || m.in_ext.size() != rank)
        throw ShapeError("strided_gather: a map of rank " + std::to_string(m.stride.size()) + " for y " +
                         to_string(y.shape()) + " (at most " + std::to_string(kMaxGatherRank) + " dimensions)");
    if (x.numel() > std::numeric_limits<int32_t>::max() || y.numel() > std::numeric_limits<int32_t>::max())
        throw LimitError("strided_gather: more than 2^31 elements");
    // The largest element any in-range output reads must lie inside x.
    int64_t last = m.offset;
    for (std::size_t k = 0; k < rank; ++k) {
        if (m.in_ext[k] < 0 || m.stride[k] < 0) throw ShapeError("strided_gather: negative extent or stride");
        if (m.in_ext[k] > 0) last += (m.in_ext[k] - 1) * m.stride[k];
    }
    if (m.offset < 0 || last >= x.numel())
        throw ShapeError("strided_gather: the map reads element " + std::to_string(last) + " of x " +
                         to_string(x.shape()));
    const Variant v = resolve_variant("strided_gather", ctx.caps, x.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const Pipeline& p = ctx.pipelines->get({module_name("strided_gather", v), 2, sizeof(GatherPush), wg, {}});
    GatherPush push{};
    push.n = uint32_t(y.numel());
    push.rank = uint32_t(rank);
    push.offset = uint32_t(m.offset);
    for (std::size_t k = 0; k < rank; ++k) {
        push.ext[k] = uint32_t(y.shape()[k]);
        push.stride[k] = uint32_t(m.stride[k]);
        push.lo[k] = int32_t(m.lo[k]);
        push.in_ext[k] = uint32_t(m.in_ext[k]);
    }
    const BufferAccess buffers[] = {read(x), write(y)};
    cl.dispatch(p, buffers, &push, sizeof(push), ceil_div(ceil_div(uint64_t(y.numel()), 2), wg),
                "strided_gather." + std::string(to_string(v)));
}

} // namespace vkhalf::detail
