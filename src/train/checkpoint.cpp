#include "vkhalf/checkpoint.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "vkhalf/error.hpp"
#include "vkhalf/half.hpp"
#include "vkhalf/io.hpp"

namespace vkhalf {

namespace {

SafeTensor f32_tensor(std::string name, const Shape& shape, const std::vector<float>& values) {
    SafeTensor t{std::move(name), "F32", shape, std::vector<std::byte>(values.size() * 4)};
    std::memcpy(t.data.data(), values.data(), t.data.size());
    return t;
}

SafeTensor scalar_i64(std::string name, int64_t v, Shape shape = {1}) {
    SafeTensor t{std::move(name), "I64", std::move(shape), std::vector<std::byte>(8)};
    std::memcpy(t.data.data(), &v, 8);
    return t;
}

const SafeTensor& expect(const SafetensorsFile& f, const std::string& path, const std::string& name,
                         const std::string& dtype, const Shape& shape) {
    const SafeTensor* t = f.find(name);
    if (!t) throw IoError(path + ": checkpoint has no tensor '" + name + "' (a different model?)");
    if (t->dtype != dtype || t->shape != shape)
        throw ShapeError(path + ": tensor '" + name + "' is " + t->dtype + " " + to_string(t->shape) + ", the model needs " +
                         dtype + " " + to_string(shape));
    return *t;
}

std::vector<float> floats(const SafeTensor& t) {
    std::vector<float> v(t.data.size() / 4);
    std::memcpy(v.data(), t.data.data(), t.data.size());
    return v;
}

int64_t i64(const SafeTensor& t) {
    int64_t v = 0;
    std::memcpy(&v, t.data.data(), 8);
    return v;
}

} // namespace

void save_checkpoint(Trainer& trainer, const std::string& path, const std::map<std::string, std::string>& metadata) {
    const TrainingState state = trainer.training_state();  // waits for the running step
    ParameterSet& params = trainer.parameters();
    std::vector<SafeTensor> tensors;
    for (std::size_t i = 0; i < params.infos().size(); ++i) {
        const int id = static_cast<int>(i);
        const ParameterInfo& p = params.infos()[i];
        tensors.push_back(f32_tensor(p.name, p.shape, params.master(id).to_floats()));
        tensors.push_back(f32_tensor("optimizer." + p.name + ".exp_avg", p.shape, params.moment1(id).to_floats()));
        tensors.push_back(f32_tensor("optimizer." + p.name + ".exp_avg_sq", p.shape, params.moment2(id).to_floats()));
    }
    for (auto& [name, t] : trainer.state_tensors()) {
        tensors.push_back(f32_tensor(name, t.shape(), t.to_floats()));
        // torch's BatchNorm counts its training forwards; here every step ran one.
        if (name.ends_with("running_mean"))
            tensors.push_back(scalar_i64(name.substr(0, name.size() - 12) + "num_batches_tracked", state.step, {}));
    }
    tensors.push_back(f32_tensor("scaler.scale", {1}, {state.loss_scale}));
    tensors.push_back(scalar_i64("scaler.growth_tracker", state.growth_tracker));
    tensors.push_back(scalar_i64("trainer.step", state.step));
    tensors.push_back(scalar_i64("trainer.optimizer_step", state.optimizer_step));
    tensors.push_back(scalar_i64("trainer.skipped", state.skipped));
    std::map<std::string, std::string> meta = metadata;
    meta["format"] = "pt";
    meta["vkhalf.precision"] = trainer.options().precision == Precision::fp16 ? "fp16" : "fp32";
    write_safetensors(path, std::move(tensors), std::move(meta));
}

std::map<std::string, std::string> load_checkpoint(Trainer& trainer, const std::string& path) {
    trainer.wait();                                     // nothing may run while we upload
    const SafetensorsFile f = read_safetensors(path);  // validates layout and checksum
    ParameterSet& params = trainer.parameters();
    // Everything is checked before anything is written: never half-loaded.
    struct Pending {
        int id;
        std::vector<float> master, m, v;
    };
    std::vector<Pending> pending;
    for (std::size_t i = 0; i < params.infos().size(); ++i) {
        const ParameterInfo& p = params.infos()[i];
        pending.push_back({static_cast<int>(i), floats(expect(f, path, p.name, "F32", p.shape)),
                           floats(expect(f, path, "optimizer." + p.name + ".exp_avg", "F32", p.shape)),
                           floats(expect(f, path, "optimizer." + p.name + ".exp_avg_sq", "F32", p.shape))});
    }
    std::vector<std::pair<Tensor, std::vector<float>>> module_state;
    for (auto& [name, t] : trainer.state_tensors()) module_state.emplace_back(t, floats(expect(f, path, name, "F32", t.shape())));
    TrainingState state;
    state.loss_scale = floats(expect(f, path, "scaler.scale", "F32", {1}))[0];
    auto counter = [&](const char* name) {
        const int64_t v = i64(expect(f, path, name, "I64", {1}));
        if (v < 0 || v > int64_t(UINT32_MAX)) throw IoError(path + ": " + name + " = " + std::to_string(v) + " is out of range");
        return static_cast<uint32_t>(v);
    };
    state.growth_tracker = counter("scaler.growth_tracker");
    state.step = counter("trainer.step");
    state.optimizer_step = counter("trainer.optimizer_step");
    state.skipped = counter("trainer.skipped");
    if (!(state.loss_scale > 0.0f) || !std::isfinite(state.loss_scale))
        throw IoError(path + ": scaler.scale is not a positive finite number");
    for (const auto& p : pending)
        for (float x : p.master)
            if (!std::isfinite(x))
                throw IoError(path + ": parameter '" + params.infos()[std::size_t(p.id)].name + "' holds inf or NaN");

    for (const auto& p : pending) {
        params.set(p.id, p.master);  // master and rne(master) working copy
        params.moment1(p.id).upload(p.m);
        params.moment2(p.id).upload(p.v);
    }
    for (auto& [t, values] : module_state) t.upload(values);
    trainer.restore(state);
    return f.metadata;
}

namespace {

// A state_dict tensor as floats, from any floating dtype PyTorch writes.
std::vector<float> weights_as_floats(const SafeTensor& t, const std::string& path) {
    const std::size_t n = std::size_t(numel(t.shape));
    std::vector<float> v(n);
    if (t.dtype == "F32") {
        std::memcpy(v.data(), t.data.data(), n * 4);
    } else if (t.dtype == "F64") {
        for (std::size_t i = 0; i < n; ++i) {
            double d;
            std::memcpy(&d, t.data.data() + 8 * i, 8);
            v[i] = float(d);
        }
    } else if (t.dtype == "F16" || t.dtype == "BF16") {
        for (std::size_t i = 0; i < n; ++i) {
            uint16_t h;
            std::memcpy(&h, t.data.data() + 2 * i, 2);
            if (t.dtype == "F16") {
                v[i] = f16_bits_to_f32(h);
            } else {
                const uint32_t bits = uint32_t(h) << 16;
                std::memcpy(&v[i], &bits, 4);
            }
        }
    } else {
        throw DTypeError(path + ": tensor '" + t.name + "' is " + t.dtype + "; weights must be F32, F16, BF16 or F64");
    }
    for (float x : v)
        if (!std::isfinite(x)) throw IoError(path + ": tensor '" + t.name + "' holds inf or NaN (or overflows fp32)");
    return v;
}

bool ignored_entry(const std::string& name) {
    for (const char* prefix : {"optimizer.", "scaler.", "trainer."})
        if (name.starts_with(prefix)) return true;
    return name.ends_with("num_batches_tracked");
}

} // namespace

void load_weights(Trainer& trainer, const std::string& path) {
    trainer.wait();
    const SafetensorsFile f = read_safetensors(path);
    ParameterSet& params = trainer.parameters();
    std::vector<std::pair<std::string, Shape>> wanted;
    for (const ParameterInfo& p : params.infos()) wanted.emplace_back(p.name, p.shape);
    std::vector<std::pair<std::string, Tensor>> state = trainer.state_tensors();
    for (const auto& [name, t] : state) wanted.emplace_back(name, t.shape());
    std::vector<std::vector<float>> values;
    for (const auto& [name, shape] : wanted) {
        const SafeTensor* t = f.find(name);
        if (!t) throw IoError(path + ": no tensor '" + name + "', which the model needs (" + to_string(shape) + ")");
        if (t->shape != shape)
            throw ShapeError(path + ": tensor '" + name + "' is " + to_string(t->shape) + ", the model's is " +
                             to_string(shape));
        values.push_back(weights_as_floats(*t, path));
    }
    for (const SafeTensor& t : f.tensors) {
        if (ignored_entry(t.name)) continue;
        bool known = false;
        for (const auto& w : wanted) known = known || w.first == t.name;
        if (!known) throw IoError(path + ": tensor '" + t.name + "' " + to_string(t.shape) + " is not in the model");
    }
    const std::vector<float> zeros(std::size_t(params.size()), 0.0f);
    for (std::size_t i = 0; i < params.infos().size(); ++i) {
        const int id = int(i);
        params.set(id, values[i]);
        const std::span<const float> z(zeros.data(), values[i].size());
        params.moment1(id).upload(z);
        params.moment2(id).upload(z);
    }
    for (std::size_t i = 0; i < state.size(); ++i) state[i].second.upload(values[params.infos().size() + i]);
}

} // namespace vkhalf
