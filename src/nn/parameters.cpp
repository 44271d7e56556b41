#include <algorithm>

#include "runtime/context_impl.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/half.hpp"
#include "vkhalf/nn.hpp"

namespace vkhalf {

int ParameterSet::add(std::string name, Shape shape) {
    if (master_flat.defined()) throw Error("ParameterSet::add('" + name + "') after allocate()");
    infos_.push_back({std::move(name), std::move(shape), 0});
    return static_cast<int>(infos_.size()) - 1;
}

void ParameterSet::freeze(std::span<const std::string> prefixes) {
    if (master_flat.defined()) throw Error("ParameterSet::freeze after allocate()");
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
    if (master_flat.defined()) throw Error("ParameterSet::no_decay_for_vectors after allocate()");
    for (auto& p : infos_)
        if (p.shape.size() == 1) p.weight_decay = false;
}

void ParameterSet::allocate(Context& ctx, Precision precision) {
    precision_ = precision;
    // Each parameter starts at an offset every view can bind: the storage-buffer offset
    // alignment in bytes, for 2-byte and 4-byte elements alike.
    const int64_t align_bytes = std::max<int64_t>(16, int64_t(ctx.caps().min_storage_offset_alignment));
    align_ = std::max<int64_t>(align_bytes / 2, 2);
    // Trainable parameters with weight decay, then without, then frozen ones: the optimizer runs
    // over one prefix per group.
    int64_t offset = 0;
    for (int group = 0; group < 3; ++group) {
        for (auto& p : infos_) {
            const int g = !p.requires_grad ? 2 : p.weight_decay ? 0 : 1;
            if (g != group) continue;
            p.offset = offset;
            offset += (numel(p.shape) + align_ - 1) / align_ * align_;
        }
        if (group == 0) decay_size_ = offset;
        if (group == 1) trainable_size_ = offset;
    }
    size_ = std::max<int64_t>(offset, 2);
    const DType wd = working_dtype(precision);
    master_flat = Tensor::empty(ctx, {size_}, DType::f32);
    moment1_flat = Tensor::empty(ctx, {size_}, DType::f32);
    moment2_flat = Tensor::empty(ctx, {size_}, DType::f32);
    work_flat = Tensor::empty(ctx, {size_}, wd);
    grad_flat = Tensor::empty(ctx, {size_}, wd);
    // Zeros everywhere: padding must stay finite (the overflow check reads it) and unchanged.
    const std::vector<std::byte> zeros(static_cast<std::size_t>(size_) * 4);
    for (Tensor* t : {&master_flat, &moment1_flat, &moment2_flat, &work_flat, &grad_flat})
        t->upload_bytes(std::span(zeros).first(t->bytes()));
}

Tensor ParameterSet::master(int id) const { return master_flat.view(infos_.at(id).offset, infos_.at(id).shape); }
Tensor ParameterSet::work(int id) const { return work_flat.view(infos_.at(id).offset, infos_.at(id).shape); }
Tensor ParameterSet::grad(int id) const { return grad_flat.view(infos_.at(id).offset, infos_.at(id).shape); }
Tensor ParameterSet::moment1(int id) const { return moment1_flat.view(infos_.at(id).offset, infos_.at(id).shape); }
Tensor ParameterSet::moment2(int id) const { return moment2_flat.view(infos_.at(id).offset, infos_.at(id).shape); }

void ParameterSet::set(int id, std::span<const float> values) {
    Tensor m = master(id), w = work(id);
    m.upload(values);
    w.upload(values);  // rounded to nearest even when fp16: equal to rne(master)
}

std::vector<float> ParameterSet::get_master(int id) const { return master(id).to_floats(); }

} // namespace vkhalf
