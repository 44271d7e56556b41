// ParameterSet: flat buffers for every parameter, in chunks that each fit one storage-buffer range.
#include <algorithm>

#include "runtime/context_impl.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/half.hpp"
#include "vkhalf/nn.hpp"

namespace vkhalf {

int ParameterSet::add(std::string name, Shape shape) {
    if (!chunks_.empty()) throw Error("ParameterSet::add('" + name + "') after allocate()");
    ParameterInfo p;
    p.name = std::move(name);
    p.shape = std::move(shape);
    infos_.push_back(std::move(p));
    return static_cast<int>(infos_.size()) - 1;
}

void ParameterSet::freeze(std::span<const std::string> prefixes) {
    if (!chunks_.empty()) throw Error("ParameterSet::freeze after allocate()");
    for (const std::string& prefix : prefixes) {
        bool any = false;
        for (auto& p : infos_)
            if (p.name.starts_with(prefix)) {
                p.requires_grad = false;
                any = true;
            }
        if (!any) throw Error("freeze: no parameter name starts with '" + prefix + "'");
    }
}

void ParameterSet::no_decay_for_vectors() {
    if (!chunks_.empty()) throw Error("ParameterSet::no_decay_for_vectors after allocate()");
    for (auto& p : infos_)
        if (p.shape.size() == 1) p.weight_decay = false;
}

void ParameterSet::allocate(Context& ctx, Precision precision, int64_t chunk_elements) {
    if (!chunks_.empty()) throw Error("ParameterSet::allocate called twice");
    precision_ = precision;
    // Each parameter starts at an offset every view can bind: the storage-buffer offset
    // alignment in bytes, for 2-byte and 4-byte elements alike.
    const int64_t align_bytes = std::max<int64_t>(16, int64_t(ctx.caps().min_storage_offset_alignment));
    align_ = std::max<int64_t>(align_bytes / 2, 2);
    // The fp32 buffers (master, moments) bound the chunk: one range of 4-byte elements.
    const int64_t range = int64_t(std::min<uint64_t>(ctx.caps().max_storage_buffer_range, uint64_t(1) << 40) / 4);
    const int64_t cap = std::max<int64_t>((chunk_elements > 0 ? std::min(chunk_elements, range) : range) / align_ * align_,
                                          align_);
    // Trainable parameters with weight decay, then without, then frozen ones; within a chunk the
    // groups stay in that order, so the optimizer runs over one prefix per group and chunk.
    std::vector<int64_t> used{0};
    std::vector<ParameterChunk> chunks(1);
    for (int group = 0; group < 3; ++group) {
        for (auto& p : infos_) {
            const int g = !p.requires_grad ? 2 : p.weight_decay ? 0 : 1;
            if (g != group) continue;
            const int64_t n = numel(p.shape), padded = (n + align_ - 1) / align_ * align_;
            if (n > cap)
                throw LimitError("parameter '" + p.name + "' " + to_string(p.shape) + " has " + std::to_string(n) +
                                 " elements; one storage buffer on this device holds at most " + std::to_string(cap) +
                                 " fp32 elements");
            if (used.back() + padded > cap) {
                used.push_back(0);
                chunks.emplace_back();
            }
            p.chunk = int(chunks.size()) - 1;
            p.offset = used.back();
            used.back() += padded;
            ParameterChunk& c = chunks.back();
            if (g == 0) c.decay_end = used.back();
            if (g <= 1) c.trainable_end = used.back();
        }
    }
    const DType wd = working_dtype(precision);
    size_ = trainable_size_ = decay_size_ = 0;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        ParameterChunk& c = chunks[i];
        c.size = std::max<int64_t>(used[i], 2);
        c.decay_end = std::min(c.decay_end, c.trainable_end);
        size_ += c.size;
        trainable_size_ += c.trainable_end;
        decay_size_ += c.decay_end;
        c.master = Tensor::empty(ctx, {c.size}, DType::f32);
        c.moment1 = Tensor::empty(ctx, {c.size}, DType::f32);
        c.moment2 = Tensor::empty(ctx, {c.size}, DType::f32);
        c.work = Tensor::empty(ctx, {c.size}, wd);
        c.grad = Tensor::empty(ctx, {c.size}, wd);
        // Zeros everywhere: padding must stay finite (the overflow check reads it) and unchanged.
        const std::vector<std::byte> zeros(static_cast<std::size_t>(c.size) * 4);
        for (Tensor* t : {&c.master, &c.moment1, &c.moment2, &c.work, &c.grad})
            t->upload_bytes(std::span(zeros).first(t->bytes()));
    }
    chunks_ = std::move(chunks);
}

Tensor ParameterSet::view(Tensor ParameterChunk::*buffer, int id) const {
    if (chunks_.empty()) throw Error("ParameterSet: parameters are not allocated yet");
    const ParameterInfo& p = infos_.at(std::size_t(id));
    return (chunks_[std::size_t(p.chunk)].*buffer).view(p.offset, p.shape);
}

Tensor ParameterSet::master(int id) const { return view(&ParameterChunk::master, id); }
Tensor ParameterSet::work(int id) const { return view(&ParameterChunk::work, id); }
Tensor ParameterSet::grad(int id) const { return view(&ParameterChunk::grad, id); }
Tensor ParameterSet::moment1(int id) const { return view(&ParameterChunk::moment1, id); }
Tensor ParameterSet::moment2(int id) const { return view(&ParameterChunk::moment2, id); }

void ParameterSet::set(int id, std::span<const float> values) {
    Tensor m = master(id), w = work(id);
    m.upload(values);
    w.upload(values);  // rounded to nearest even when fp16: equal to rne(master)
}

std::vector<float> ParameterSet::get_master(int id) const { return master(id).to_floats(); }

} // namespace vkhalf
