#pragma once
// Modules: Linear, ReLU and Sequential, recorded into a Graph forward and backward.
//
// Every parameter lives in flat buffers shared by the whole model (ParameterSet): an fp32 master
// copy, a working copy in the training precision (fp16, or fp32) that forward and backward read,
// a gradient in that precision (scaled by the loss scale), and the optimizer's fp32 moments. One
// fused kernel then updates every parameter at once.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "vkhalf/graph.hpp"
#include "vkhalf/norm.hpp"

namespace vkhalf {

enum class Precision : uint8_t {
    fp16,  // fp16 weights, activations and gradients; fp32 master weights and optimizer state
    fp32,  // everything fp32 (the reference to compare mixed precision with)
};

constexpr DType working_dtype(Precision p) { return p == Precision::fp16 ? DType::f16 : DType::f32; }

struct ParameterInfo {
    std::string name;  // PyTorch state_dict name, e.g. "0.weight"
    Shape shape;
    int64_t offset = 0;  // elements into the flat buffers (aligned for views)
};

class ParameterSet {
public:
    // Registration (before allocate()): returns the parameter's index.
    int add(std::string name, Shape shape);
    // Creates the flat buffers; the moments start at zero.
    void allocate(Context& ctx, Precision precision);

    const std::vector<ParameterInfo>& infos() const { return infos_; }
    int64_t size() const { return size_; }  // elements, padding included (even)
    Precision precision() const { return precision_; }

    // Views of one parameter.
    Tensor master(int id) const;
    Tensor work(int id) const;
    Tensor grad(int id) const;
    Tensor moment1(int id) const;  // Adam's exp_avg, SGD's momentum buffer
    Tensor moment2(int id) const;  // Adam's exp_avg_sq
    // The flat buffers.
    Tensor master_flat, work_flat, grad_flat, moment1_flat, moment2_flat;

    // Host-side values of every parameter (fp32), e.g. for initialisation or checkpoints: set()
    // writes the master copy and the working copy (rounded to nearest even in fp16).
    void set(int id, std::span<const float> values);
    std::vector<float> get_master(int id) const;

private:
    std::vector<ParameterInfo> infos_;
    int64_t size_ = 0;
    int64_t align_ = 128;
    Precision precision_ = Precision::fp16;
};

// What a module records with: the graph, the parameters, the batch's precision, and whether the
// graph trains (Dropout masks) or evaluates (Dropout passes through).
struct RecordContext {
    Graph& graph;
    ParameterSet& params;
    Precision precision;
    bool training = true;
};

class Module {
public:
    virtual ~Module() = default;
    virtual void register_parameters(ParameterSet& params, const std::string& prefix) = 0;
    // PyTorch's default initialisation for the module type, from `rng`.
    virtual void init_parameters(ParameterSet& params, std::mt19937_64& rng) = 0;
    // Records y = f(x) and returns y (allocated by the module, kept alive by the graph).
    virtual Tensor record_forward(RecordContext& rc, const Tensor& x) = 0;
    // Records the backward of the last recorded forward: parameter gradients (written, not
    // accumulated) and, when need_dx, returns dL/dx.
    virtual Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) = 0;
    // A module whose kernel can apply a following ReLU in its epilogue says yes and does so.
    virtual bool fuse_relu() { return false; }
    // Whether the module has parameters (the backward skips input gradients nobody needs).
    virtual bool has_parameters() const { return false; }
    // State that is not a parameter but belongs in a checkpoint (BatchNorm2d's running
    // statistics), named as in torch's state_dict. Available once the module has been recorded.
    virtual void state_tensors(std::vector<std::pair<std::string, Tensor>>&) {}
};

// y = x W^T + b, W [out, in] and b [out] as torch.nn.Linear.
class Linear : public Module {
public:
    Linear(int64_t in, int64_t out) : in_(in), out_(out) {}
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;
    bool fuse_relu() override { return fused_relu_ = true; }  // the GEMM epilogue applies it
    bool has_parameters() const override { return true; }

private:
    int64_t in_, out_;
    int weight_ = -1, bias_ = -1;
    bool fused_relu_ = false;
    Tensor x_, y_;
};

// y = conv2d(x, W) + b over NCHW, W [out, in, kh, kw] and b [out] as torch.nn.Conv2d.
class Conv2d : public Module {
public:
    Conv2d(int64_t in, int64_t out, int64_t kernel, Conv2dParams params = {})
        : in_(in), out_(out), kernel_(kernel), params_(params) {}
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;
    bool fuse_relu() override { return fused_relu_ = true; }
    bool has_parameters() const override { return true; }

private:
    int64_t in_, out_, kernel_;
    Conv2dParams params_;
    int weight_ = -1, bias_ = -1;
    bool fused_relu_ = false;
    Tensor x_, y_;
};

// torch.nn.BatchNorm2d(channels): weight (gamma, 1) and bias (beta, 0) are parameters; the
// running mean and variance are state (checkpointed as "<prefix>running_mean" / "running_var").
// Training graphs normalise with the batch's statistics, evaluation graphs with the running ones.
class BatchNorm2d : public Module {
public:
    explicit BatchNorm2d(int64_t channels, BatchNormParams params = {}) : channels_(channels), params_(params) {}
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;
    bool has_parameters() const override { return true; }
    void state_tensors(std::vector<std::pair<std::string, Tensor>>& out) override;

private:
    int64_t channels_;
    BatchNormParams params_;
    std::string prefix_;
    int weight_ = -1, bias_ = -1;
    BatchNormStats stats_;
    Tensor x_;
};

// torch.nn.LayerNorm(d) over the last dimension: weight (1) and bias (0) of shape [d].
class LayerNorm : public Module {
public:
    explicit LayerNorm(int64_t d, float eps = 1e-5f) : d_(d), eps_(eps) {}
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;
    bool has_parameters() const override { return true; }

private:
    int64_t d_;
    float eps_;
    int weight_ = -1, bias_ = -1;
    Tensor x_, stats_;
};

class MaxPool2d : public Module {
public:
    explicit MaxPool2d(int64_t kernel, int64_t stride = 0)
        : params_{kernel, kernel, stride ? stride : kernel, stride ? stride : kernel, 0, 0} {}
    void register_parameters(ParameterSet&, const std::string&) override {}
    void init_parameters(ParameterSet&, std::mt19937_64&) override {}
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;

private:
    Pool2dParams params_;
    Tensor x_, argmax_;
};

// [batch, ...] -> [batch, everything else] (torch.nn.Flatten): no copy, NCHW order.
class Flatten : public Module {
public:
    void register_parameters(ParameterSet&, const std::string&) override {}
    void init_parameters(ParameterSet&, std::mt19937_64&) override {}
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;

private:
    Shape in_shape_;
};

// [batch, n] -> [batch, shape...] (torch.nn.Unflatten(1, shape)): no copy. E.g. the trainer's
// flat images to [batch, 1, 28, 28] for a convolution.
class Unflatten : public Module {
public:
    explicit Unflatten(Shape shape) : shape_(std::move(shape)) {}
    void register_parameters(ParameterSet&, const std::string&) override {}
    void init_parameters(ParameterSet&, std::mt19937_64&) override {}
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;

private:
    Shape shape_, in_shape_;
};

// GELU (exact erf form), tanh or sigmoid; the backward reads the forward's input.
class ActivationModule : public Module {
public:
    explicit ActivationModule(Activation f) : f_(f) {}
    void register_parameters(ParameterSet&, const std::string&) override {}
    void init_parameters(ParameterSet&, std::mt19937_64&) override {}
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;

private:
    Activation f_;
    Tensor x_;
};
struct GELU : ActivationModule { GELU() : ActivationModule(Activation::gelu) {} };
struct Tanh : ActivationModule { Tanh() : ActivationModule(Activation::tanh) {} };
struct Sigmoid : ActivationModule { Sigmoid() : ActivationModule(Activation::sigmoid) {} };

// Zeroes each element with probability p and scales the rest by 1/(1-p) while training (a new
// Philox mask every replayed step, from `seed`: give each Dropout of a model its own); passes
// through when evaluating.
class Dropout : public Module {
public:
    explicit Dropout(float p, uint32_t seed = 0) : p_(p), seed_(seed) {}
    void register_parameters(ParameterSet&, const std::string&) override {}
    void init_parameters(ParameterSet&, std::mt19937_64&) override {}
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;

private:
    float p_;
    uint32_t seed_;
    Tensor rng_state_;
    bool active_ = false;
};

class ReLU : public Module {
public:
    void register_parameters(ParameterSet&, const std::string&) override {}
    void init_parameters(ParameterSet&, std::mt19937_64&) override {}
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;
    bool fused = false;  // the preceding Linear applies it; forward and backward pass through

private:
    Tensor y_;
};

class Sequential : public Module {
public:
    Sequential& add(std::unique_ptr<Module> m);
    template <typename M, typename... Args>
    Sequential& emplace(Args&&... args) {
        return add(std::make_unique<M>(std::forward<Args>(args)...));
    }
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Tensor record_forward(RecordContext& rc, const Tensor& x) override;
    Tensor record_backward(RecordContext& rc, const Tensor& dy, bool need_dx) override;
    bool has_parameters() const override;
    void state_tensors(std::vector<std::pair<std::string, Tensor>>& out) override;
    std::size_t size() const { return modules_.size(); }

private:
    std::vector<std::unique_ptr<Module>> modules_;
};

} // namespace vkhalf
