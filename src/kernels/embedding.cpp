// Host side of shaders/embedding.comp: the embedding lookup and its deterministic gradient.
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

struct EmbeddingPush {
    uint32_t tokens, dim, vocab, n;
};

// table [V, D] float, indices u32 of any shape, rows [indices..., D] of the table's dtype.
EmbeddingPush check_embedding(const char* op, const Tensor& table, const Tensor& indices, const Tensor& rows) {
    check_defined(op, table, "table");
    check_defined(op, indices, "indices");
    check_defined(op, rows, "rows");
    if (table.shape().size() != 2 || table.dtype() == DType::u32)
        throw ShapeError(std::string(op) + ": the table must be a 2-D float tensor [vocab, dim], got " +
                         to_string(table.shape()) + " " + std::string(to_string(table.dtype())));
    if (indices.dtype() != DType::u32)
        throw DTypeError(std::string(op) + ": indices must be u32, got " + std::string(to_string(indices.dtype())));
    check_same_dtype(op, table, rows);
    Shape want = indices.shape();
    want.push_back(table.shape()[1]);
    if (rows.shape() != want)
        throw ShapeError(std::string(op) + ": rows must be " + to_string(want) + " for indices " +
                         to_string(indices.shape()) + " and table " + to_string(table.shape()) + ", got " +
                         to_string(rows.shape()));
    if (rows.numel() > std::numeric_limits<int32_t>::max() || table.numel() > std::numeric_limits<int32_t>::max())
        throw LimitError(std::string(op) + ": more than 2^31 elements");
    return {uint32_t(indices.numel()), uint32_t(table.shape()[1]), uint32_t(table.shape()[0]), 0};
}

void dispatch_embedding(CommandList& cl, ContextImpl& ctx, uint32_t mode, const Tensor& indices, const Tensor& src,
                        Tensor& dst, EmbeddingPush push, const OpOptions& opt) {
    const Variant v = resolve_variant("embedding", ctx.caps, dst.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const Pipeline& p = ctx.pipelines->get({module_name("embedding", v), 3, sizeof(EmbeddingPush), wg, {{1, mode}}});
    push.n = uint32_t(dst.numel());
    const BufferAccess buffers[] = {read(indices), read(src), write(dst)};
    cl.dispatch(p, buffers, &push, sizeof(push), ceil_div(ceil_div(uint64_t(dst.numel()), 2), wg),
                mode == 0 ? "embedding" : "embedding_backward");
}

} // namespace

void record_embedding(CommandList& cl, ContextImpl& ctx, const Tensor& table, const Tensor& indices, Tensor& y,
                      const OpOptions& opt) {
    dispatch_embedding(cl, ctx, 0, indices, table, y, check_embedding("embedding", table, indices, y), opt);
}

void record_embedding_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& indices,
                               Tensor& dtable, const OpOptions& opt) {
    dispatch_embedding(cl, ctx, 1, indices, dy, dtable, check_embedding("embedding_backward", dtable, indices, dy),
                       opt);
}

} // namespace vkhalf::detail
