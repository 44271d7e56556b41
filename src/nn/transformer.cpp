// A decoder-only transformer from the graph's ops: fused (or composed) causal attention,
// pre-LayerNorm blocks, a tied output head. Every backward is derived.
#include <cmath>

#include "vkhalf/error.hpp"
#include "vkhalf/nn.hpp"

namespace vkhalf {

namespace {

void normal_init(ParameterSet& params, int id, int64_t n, float stddev, std::mt19937_64& rng) {
    std::normal_distribution<float> d(0.0f, stddev);
    std::vector<float> w(static_cast<std::size_t>(n));
    for (auto& x : w) x = d(rng);
    params.set(id, w);
}

void zero_init(ParameterSet& params, int id, int64_t n) {
    params.set(id, std::vector<float>(static_cast<std::size_t>(n), 0.0f));
}

} // namespace

bool runs_fused(AttentionImpl impl, int64_t head_dim) {
    return impl == AttentionImpl::fused && head_dim % 2 == 0;  // the fused kernel's limit
}

CausalSelfAttention::CausalSelfAttention(int64_t embd, int64_t heads, AttentionImpl impl)
    : embd_(embd), heads_(heads), impl_(impl), c_attn_(embd, 3 * embd), c_proj_(embd, embd) {
    if (heads < 1 || embd % heads != 0)
        throw ShapeError("CausalSelfAttention: " + std::to_string(heads) + " heads do not divide " +
                         std::to_string(embd) + " channels");
}

void CausalSelfAttention::register_parameters(ParameterSet& params, const std::string& prefix) {
    c_attn_.register_parameters(params, prefix + "c_attn.");
    c_proj_.register_parameters(params, prefix + "c_proj.");
}

void CausalSelfAttention::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    c_attn_.init_parameters(params, rng);
    c_proj_.init_parameters(params, rng);
}

Value CausalSelfAttention::forward(ModelBuilder& mb, Value x) {
    Builder& b = mb.builder();
    const Shape s = x.shape();  // a copy: adding nodes may move the graph's value table
    if (s.size() != 3 || s[2] != embd_)
        throw ShapeError("CausalSelfAttention: input " + to_string(s) + ", expected [batch, T, " +
                         std::to_string(embd_) + "]");
    const int64_t n = s[0], t = s[1], d = embd_ / heads_;
    const Value qkv = c_attn_.forward(mb, x);  // [n, T, 3 embd]
    if (runs_fused(impl_, d)) return c_proj_.forward(mb, b.causal_self_attention(qkv, heads_));
    // One of q, k, v as [n heads, T, d]: its third of the channels, heads moved ahead of positions.
    auto heads = [&](int64_t part) {
        const Value p = b.reshape(b.slice(qkv, 2, part * embd_, embd_), {n, t, heads_, d});
        return b.reshape(b.permute(p, {0, 2, 1, 3}), {n * heads_, t, d});
    };
    const Value y = b.scaled_dot_product_attention(heads(0), heads(1), heads(2), true);
    const Value merged = b.reshape(b.permute(b.reshape(y, {n, heads_, t, d}), {0, 2, 1, 3}), {n, t, embd_});
    return c_proj_.forward(mb, merged);
}

TransformerBlock::TransformerBlock(int64_t embd, int64_t heads, AttentionImpl impl)
    : ln_1_(embd), ln_2_(embd), attn_(embd, heads, impl), c_fc_(embd, 4 * embd), c_proj_(4 * embd, embd) {}

void TransformerBlock::register_parameters(ParameterSet& params, const std::string& prefix) {
    ln_1_.register_parameters(params, prefix + "ln_1.");
    attn_.register_parameters(params, prefix + "attn.");
    ln_2_.register_parameters(params, prefix + "ln_2.");
    c_fc_.register_parameters(params, prefix + "mlp.c_fc.");
    c_proj_.register_parameters(params, prefix + "mlp.c_proj.");
}

void TransformerBlock::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    ln_1_.init_parameters(params, rng);
    attn_.init_parameters(params, rng);
    ln_2_.init_parameters(params, rng);
    c_fc_.init_parameters(params, rng);
    c_proj_.init_parameters(params, rng);
}

Value TransformerBlock::forward(ModelBuilder& mb, Value x) {
    Builder& b = mb.builder();
    // Casts are no-ops where the stream already has the layers' dtype.
    const DType layers = working_dtype(mb.precision()), stream = x.dtype();
    const Value a = attn_.forward(mb, ln_1_.forward(mb, b.cast(x, layers)));
    const Value h = b.add(x, b.cast(a, stream));
    const Value m = c_proj_.forward(
        mb, b.activation(Activation::gelu_tanh, c_fc_.forward(mb, ln_2_.forward(mb, b.cast(h, layers)))));
    return b.add(h, b.cast(m, stream));
}

GPT::GPT(GPTConfig config)
    : config_(config), wte_(config.vocab, config.embd), wpe_(config.block, config.embd), ln_f_(config.embd) {
    if (config.layers < 1 || config.block < 1)
        throw ShapeError("GPT: needs at least one layer and a block of at least one token");
    for (int64_t i = 0; i < config.layers; ++i)
        blocks_.push_back(std::make_unique<TransformerBlock>(config.embd, config.heads, config.attention));
}

void GPT::register_parameters(ParameterSet& params, const std::string& prefix) {
    wte_.register_parameters(params, prefix + "transformer.wte.");
    wpe_.register_parameters(params, prefix + "transformer.wpe.");
    for (std::size_t i = 0; i < blocks_.size(); ++i)
        blocks_[i]->register_parameters(params, prefix + "transformer.h." + std::to_string(i) + ".");
    ln_f_.register_parameters(params, prefix + "transformer.ln_f.");
}

void GPT::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    const GPTConfig& c = config_;
    const float residual = 0.02f / std::sqrt(2.0f * float(c.layers));  // nanoGPT: c_proj weights
    normal_init(params, wte_.weight(), c.vocab * c.embd, 0.02f, rng);
    normal_init(params, wpe_.weight(), c.block * c.embd, 0.02f, rng);
    for (auto& block : blocks_) {
        block->init_parameters(params, rng);  // LayerNorms: ones and zeros
        const std::pair<Linear*, float> linears[] = {{&block->attn().c_attn(), 0.02f},
                                                     {&block->attn().c_proj(), residual},
                                                     {&block->mlp_fc(), 0.02f},
                                                     {&block->mlp_proj(), residual}};
        for (const auto& [l, stddev] : linears) {
            normal_init(params, l->weight(), numel(params.infos()[std::size_t(l->weight())].shape), stddev, rng);
            zero_init(params, l->bias(), params.infos()[std::size_t(l->bias())].shape[0]);
        }
    }
    ln_f_.init_parameters(params, rng);
}

Value GPT::forward(ModelBuilder& mb, Value tokens) {
    Builder& b = mb.builder();
    const Shape s = tokens.shape();  // a copy: adding nodes may move the graph's value table
    if (s.size() != 2 || s[1] > config_.block)
        throw ShapeError("GPT: tokens " + to_string(s) + ", expected [batch, T] with T <= " +
                         std::to_string(config_.block));
    const Value pos = b.slice(mb.param(wpe_.weight()), 0, 0, s[1]);  // [T, embd], broadcast over the batch
    Value h = b.add(wte_.forward(mb, tokens), pos);
    if (config_.fp32_residual) h = b.cast(h, DType::f32);
    for (auto& block : blocks_) h = block->forward(mb, h);
    const Value last = ln_f_.forward(mb, b.cast(h, working_dtype(mb.precision())));
    return b.linear(last, mb.param(wte_.weight()));  // tied head, no bias
}

} // namespace vkhalf
