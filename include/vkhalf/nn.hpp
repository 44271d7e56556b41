#pragma once
// Modules: layers whose forward is built from the autograd graph's ops (vkhalf/autograd.hpp);
// their gradients are derived, never written by hand.
//
// Every parameter lives in flat buffers shared by the whole model (ParameterSet): an fp32 master
// copy, a working copy in the training precision (fp16, or fp32) that forward and backward read,
// a gradient in that precision (scaled by the loss scale), and the optimizer's fp32 moments. One
// fused kernel then updates every parameter at once.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "vkhalf/autograd.hpp"
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
    int chunk = 0;       // which ParameterChunk holds it
    int64_t offset = 0;  // elements into that chunk's buffers (aligned for views)
    bool requires_grad = true;
    bool weight_decay = true;  // false: the optimizer's weight decay skips it (a parameter group)
};

// Flat buffers of a run of parameters, each within one storage-buffer range (so a model may be
// larger than maxStorageBufferRange): [0, decay_end) decays, [decay_end, trainable_end) trains
// without weight decay, the rest is frozen. The optimizer runs once per chunk, in the same
// submission.
struct ParameterChunk {
    Tensor master, work, grad, moment1, moment2;
    int64_t size = 0, decay_end = 0, trainable_end = 0;  // elements
};

class ParameterSet {
public:
    // Registration (before allocate()): returns the parameter's index.
    int add(std::string name, Shape shape);
    // Before allocate(): every parameter whose name starts with one of the prefixes gets no
    // gradient and no optimizer update (fine-tuning). A prefix that names nothing is an Error.
    void freeze(std::span<const std::string> prefixes);
    // Before allocate(): no weight decay for parameters of one dimension (biases, normalisation
    // weights), the parameter groups of the usual PyTorch recipes.
    void no_decay_for_vectors();
    // Creates the flat buffers, trainable parameters first, in chunks of at most chunk_elements
    // (0: as many fp32 elements as one storage buffer range holds); the moments start at zero.
    // LimitError names a parameter larger than a chunk.
    void allocate(Context& ctx, Precision precision, int64_t chunk_elements = 0);

    const std::vector<ParameterInfo>& infos() const { return infos_; }
    const std::vector<ParameterChunk>& chunks() const { return chunks_; }
    int64_t size() const { return size_; }  // elements over all chunks, padding included
    int64_t trainable_size() const { return trainable_size_; }  // trainable elements, padding included
    int64_t decay_size() const { return decay_size_; }          // of them with weight decay
    Precision precision() const { return precision_; }

    // Views of one parameter.
    Tensor master(int id) const;
    Tensor work(int id) const;
    Tensor grad(int id) const;
    Tensor moment1(int id) const;  // Adam's exp_avg, SGD's momentum buffer
    Tensor moment2(int id) const;  // Adam's exp_avg_sq

    // Host-side values of every parameter (fp32), e.g. for initialisation or checkpoints: set()
    // writes the master copy and the working copy (rounded to nearest even in fp16).
    void set(int id, std::span<const float> values);
    std::vector<float> get_master(int id) const;

private:
    Tensor view(Tensor ParameterChunk::*buffer, int id) const;  // one parameter's view of a chunk buffer
    std::vector<ParameterInfo> infos_;
    std::vector<ParameterChunk> chunks_;
    int64_t size_ = 0, trainable_size_ = 0, decay_size_ = 0;
    int64_t align_ = 128;
    Precision precision_ = Precision::fp16;
};

// What a module's forward builds with: the graph, the parameters, the precision, and whether the
// graph trains (Dropout masks, BatchNorm batch statistics) or evaluates.
class ModelBuilder {
public:
    ModelBuilder(Builder& builder, ParameterSet& params, Precision precision, bool training)
        : builder_(builder), params_(params), precision_(precision), training_(training) {}
    Builder& builder() const { return builder_; }
    ParameterSet& params() const { return params_; }
    Precision precision() const { return precision_; }
    bool training() const { return training_; }
    // The graph's leaf for parameter `id` (its working copy), made once: a module applied twice
    // shares its weights, and the gradient sums both uses.
    Value param(int id);
    // The parameters some forward used, in first-use order.
    const std::vector<int>& used() const { return used_; }

private:
    Builder& builder_;
    ParameterSet& params_;
    Precision precision_;
    bool training_;
    std::vector<Value> leaves_;
    std::vector<int> used_;
};

// A module builds its forward from the graph's ops; the backward is derived (Builder::grad).
class Module {
public:
    virtual ~Module() = default;
    virtual void register_parameters(ParameterSet& params, const std::string& prefix) = 0;
    // PyTorch's default initialisation for the module type, from `rng`.
    virtual void init_parameters(ParameterSet& params, std::mt19937_64& rng) = 0;
    virtual Value forward(ModelBuilder& mb, Value x) = 0;
    // State that is not a parameter but belongs in a checkpoint (BatchNorm2d's running
    // statistics), named as in torch's state_dict. Available once a forward has been built.
    virtual void state_tensors(std::vector<std::pair<std::string, Tensor>>&) {}
};

// y = x W^T + b over x [..., in] (every leading position a row), W [out, in] and b [out] as
// torch.nn.Linear.
class Linear : public Module {
public:
    Linear(int64_t in, int64_t out) : in_(in), out_(out) {}
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value x) override;
    int weight() const { return weight_; }  // parameter ids, for initialisations of a model's own
    int bias() const { return bias_; }

private:
    int64_t in_, out_;
    int weight_ = -1, bias_ = -1;
};

// y = weight[x] as torch.nn.Embedding(num, dim): x holds u32 indices of any shape, y is
// [x..., dim]; weight [num, dim] starts N(0, 1), as torch's. Its gradient sums the rows of every
// position that used an index (fp32, token order); a tied output layer uses the same parameter
// (ModelBuilder::param), and the gradient sums both.
class Embedding : public Module {
public:
    Embedding(int64_t num, int64_t dim);
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value x) override;
    int weight() const { return weight_; }  // the parameter id, for tying

private:
    int64_t num_, dim_;
    int weight_ = -1;
};

// y = conv2d(x, W) + b over NCHW, W [out, in / groups, kh, kw] and b [out] as torch.nn.Conv2d
// (bias false: no b, as before a BatchNorm; params.groups = in = out: depthwise). A ShapeError
// names channel counts that the groups do not divide.
class Conv2d : public Module {
public:
    Conv2d(int64_t in, int64_t out, int64_t kernel, Conv2dParams params = {}, bool bias = true);
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value x) override;

private:
    int64_t in_, out_, kernel_;
    Conv2dParams params_;
    bool has_bias_;
    int weight_ = -1, bias_ = -1;
};

// torch.nn.BatchNorm2d(channels): weight (gamma, 1) and bias (beta, 0) are parameters; the
// running mean and variance are state (checkpointed as "<prefix>running_mean" / "running_var").
// Training graphs normalise with the batch's statistics, evaluation graphs with the running ones.
// One forward per training step (its saved batch statistics live in the module).
class BatchNorm2d : public Module {
public:
    explicit BatchNorm2d(int64_t channels, BatchNormParams params = {}) : channels_(channels), params_(params) {}
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value x) override;
    void state_tensors(std::vector<std::pair<std::string, Tensor>>& out) override;

private:
    int64_t channels_;
    BatchNormParams params_;
    std::string prefix_;
    int weight_ = -1, bias_ = -1;
    BatchNormStats stats_;
};

// torch.nn.LayerNorm(d) over the last dimension: weight (1) and bias (0) of shape [d].
class LayerNorm : public Module {
public:
    explicit LayerNorm(int64_t d, float eps = 1e-5f) : d_(d), eps_(eps) {}
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value x) override;

private:
    int64_t d_;
    float eps_;
    int weight_ = -1, bias_ = -1;
};

// Modules without parameters.
class Stateless : public Module {
public:
    void register_parameters(ParameterSet&, const std::string&) override {}
    void init_parameters(ParameterSet&, std::mt19937_64&) override {}
};

class MaxPool2d : public Stateless {
public:
    explicit MaxPool2d(int64_t kernel, int64_t stride = 0)
        : params_{kernel, kernel, stride ? stride : kernel, stride ? stride : kernel, 0, 0} {}
    Value forward(ModelBuilder& mb, Value x) override { return mb.builder().max_pool2d(x, params_); }

private:
    Pool2dParams params_;
};

// [n, c, h, w] -> [n, c]: the mean over each plane (torch.nn.AdaptiveAvgPool2d(1), then Flatten).
class GlobalAvgPool2d : public Stateless {
public:
    Value forward(ModelBuilder& mb, Value x) override;
};

// [batch, ...] -> [batch, everything else] (torch.nn.Flatten): a view, NCHW order.
class Flatten : public Stateless {
public:
    Value forward(ModelBuilder& mb, Value x) override { return mb.builder().flatten(x); }
};

// [batch, n] -> [batch, shape...] (torch.nn.Unflatten(1, shape)): a view. E.g. the trainer's
// flat images to [batch, 1, 28, 28] for a convolution.
class Unflatten : public Stateless {
public:
    explicit Unflatten(Shape shape) : shape_(std::move(shape)) {}
    Value forward(ModelBuilder& mb, Value x) override;

private:
    Shape shape_;
};

// GELU (exact erf form or the tanh approximation), tanh or sigmoid.
class ActivationModule : public Stateless {
public:
    explicit ActivationModule(Activation f) : f_(f) {}
    Value forward(ModelBuilder& mb, Value x) override { return mb.builder().activation(f_, x); }

private:
    Activation f_;
};
// torch.nn.GELU(approximate="none" or "tanh")
struct GELU : ActivationModule {
    explicit GELU(bool tanh_approximation = false)
        : ActivationModule(tanh_approximation ? Activation::gelu_tanh : Activation::gelu) {}
};
struct Tanh : ActivationModule { Tanh() : ActivationModule(Activation::tanh) {} };
struct Sigmoid : ActivationModule { Sigmoid() : ActivationModule(Activation::sigmoid) {} };

// Zeroes each element with probability p and scales the rest by 1/(1-p) while training (a new
// Philox mask every replayed step, from `seed`: give each Dropout of a model its own); passes
// through when evaluating.
class Dropout : public Stateless {
public:
    explicit Dropout(float p, uint32_t seed = 0) : p_(p), seed_(seed) {}
    Value forward(ModelBuilder& mb, Value x) override;

private:
    float p_;
    uint32_t seed_;
    Tensor rng_state_;
};

// max(x, 0). After a Linear or Conv2d the compiler moves it into that kernel's epilogue.
class ReLU : public Stateless {
public:
    Value forward(ModelBuilder& mb, Value x) override { return mb.builder().relu(x); }
};

// torchvision's ResNet BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), 3x3
// convolutions without bias; where the stride or the width changes, the shortcut is a 1x1
// convolution and a BatchNorm2d ("downsample.0", "downsample.1"), else x itself.
class BasicBlock : public Module {
public:
    BasicBlock(int64_t in, int64_t out, int64_t stride = 1);
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value x) override;
    void state_tensors(std::vector<std::pair<std::string, Tensor>>& out) override;

private:
    Conv2d conv1_, conv2_;
    BatchNorm2d bn1_, bn2_;
    std::unique_ptr<Conv2d> down_conv_;
    std::unique_ptr<BatchNorm2d> down_bn_;
};

// ---- a decoder-only transformer (GPT-2's layout, nanoGPT's parameter names) ----------------

// How attention runs: fused, one kernel over the packed projection with no T x T matrix
// (Builder::causal_self_attention; needs an even head size, else the composed form runs); or
// composed of batched GEMMs and the causal softmax, with the heads permuted out and back
// (Builder::scaled_dot_product_attention). The same function; the fused form is the faster one
// wherever measured (lavapipe: a GPT step 19% shorter at a window of 128, 10% at 512) and needs
// far less memory (docs/gpt.md).
enum class AttentionImpl : uint8_t { fused, composed };
// Whether attention with heads of head_dim runs fused (an odd head size falls back to composed).
bool runs_fused(AttentionImpl impl, int64_t head_dim);

// Causal multi-head self-attention over x [batch, T, embd]: c_attn (embd -> 3 embd: q, k, v), heads
// of embd / heads, softmax(q k^T / sqrt(d)) v with position i attending to positions <= i, c_proj
// (embd -> embd).
class CausalSelfAttention : public Module {
public:
    CausalSelfAttention(int64_t embd, int64_t heads, AttentionImpl impl = AttentionImpl::fused);
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value x) override;
    Linear& c_attn() { return c_attn_; }
    Linear& c_proj() { return c_proj_; }

private:
    int64_t embd_, heads_;
    AttentionImpl impl_;
    Linear c_attn_, c_proj_;
};

// Pre-LayerNorm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)), the MLP embd -> 4 embd -> embd
// with GELU's tanh form (GPT-2's). x, the residual stream, may be f32 while the layers work in
// fp16: each branch then reads an fp16 copy of it and its output is added in f32.
class TransformerBlock : public Module {
public:
    TransformerBlock(int64_t embd, int64_t heads, AttentionImpl impl = AttentionImpl::fused);
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value x) override;
    CausalSelfAttention& attn() { return attn_; }
    Linear& mlp_fc() { return c_fc_; }
    Linear& mlp_proj() { return c_proj_; }

private:
    LayerNorm ln_1_, ln_2_;
    CausalSelfAttention attn_;
    Linear c_fc_, c_proj_;
};

struct GPTConfig {
    int64_t vocab = 65, block = 128, layers = 4, heads = 4, embd = 128;
    AttentionImpl attention = AttentionImpl::fused;
    // With fp16 layers, keep the residual stream (the embeddings' sum and every block's adds) in
    // fp32, as torch's autocast does: a branch's small update is not rounded away against a large
    // stream (docs/gpt.md measures both). No effect in fp32.
    bool fp32_residual = true;
};

// tokens [batch, T] (u32, T <= block) -> logits [batch, T, vocab]: token plus learned position
// embeddings, `layers` blocks, a final LayerNorm, and an output head tied to the token embedding
// (the logits are h wte^T; wte's gradient sums both uses). Parameters as nanoGPT names them
// (transformer.wte.weight, transformer.h.0.attn.c_attn.weight, ...; the tied head has no name of
// its own) and initialised as it does: N(0, 0.02) weights, zero biases, the residual projections
// N(0, 0.02 / sqrt(2 layers)).
class GPT : public Module {
public:
    explicit GPT(GPTConfig config);
    void register_parameters(ParameterSet& params, const std::string& prefix) override;
    void init_parameters(ParameterSet& params, std::mt19937_64& rng) override;
    Value forward(ModelBuilder& mb, Value tokens) override;
    const GPTConfig& config() const { return config_; }

private:
    GPTConfig config_;
    Embedding wte_, wpe_;
    std::vector<std::unique_ptr<TransformerBlock>> blocks_;
    LayerNorm ln_f_;
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
    Value forward(ModelBuilder& mb, Value x) override;
    void state_tensors(std::vector<std::pair<std::string, Tensor>>& out) override;
    std::size_t size() const { return modules_.size(); }

private:
    std::vector<std::unique_ptr<Module>> modules_;
};

} // namespace vkhalf
