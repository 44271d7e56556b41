// The modules' forwards, built from the autograd graph's ops; gradients come from Builder::grad.
#include <cmath>

#include "vkhalf/error.hpp"
#include "vkhalf/nn.hpp"
#include "vkhalf/conv.hpp"

namespace vkhalf {

Value ModelBuilder::param(int id) {
    if (leaves_.empty()) leaves_.resize(params_.infos().size());
    Value& v = leaves_.at(std::size_t(id));
    if (!v.defined()) {
        const ParameterInfo& info = params_.infos()[std::size_t(id)];
        v = builder_.parameter(params_.work(id), info.name, info.requires_grad);
        used_.push_back(id);
    }
    return v;
}

void Linear::register_parameters(ParameterSet& params, const std::string& prefix) {
    weight_ = params.add(prefix + "weight", {out_, in_});
    bias_ = params.add(prefix + "bias", {out_});
}

void Linear::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    // torch.nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in))
    // for the weight, and the bias is U(-1/sqrt(in), 1/sqrt(in)).
    const float bound = 1.0f / std::sqrt(static_cast<float>(in_));
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<float> w(static_cast<std::size_t>(in_ * out_)), b(static_cast<std::size_t>(out_));
    for (auto& x : w) x = u(rng);
    for (auto& x : b) x = u(rng);
    params.set(weight_, w);
    params.set(bias_, b);
}

Value Linear::forward(ModelBuilder& mb, Value x) {
    if (x.shape().size() < 2 || x.shape().back() != in_)  // [..., in], as torch.nn.Linear
        throw ShapeError("Linear(" + std::to_string(in_) + ", " + std::to_string(out_) + "): input " +
                         to_string(x.shape()) + ", expected [..., " + std::to_string(in_) + "]");
    return mb.builder().linear(x, mb.param(weight_), mb.param(bias_));
}

Embedding::Embedding(int64_t num, int64_t dim) : num_(num), dim_(dim) {
    if (num < 1 || dim < 1)
        throw ShapeError("Embedding: " + std::to_string(num) + " rows of " + std::to_string(dim) + " are not a table");
}

void Embedding::register_parameters(ParameterSet& params, const std::string& prefix) {
    weight_ = params.add(prefix + "weight", {num_, dim_});
}

void Embedding::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    std::normal_distribution<float> n(0.0f, 1.0f);  // torch.nn.Embedding.reset_parameters: normal_()
    std::vector<float> w(static_cast<std::size_t>(num_ * dim_));
    for (auto& x : w) x = n(rng);
    params.set(weight_, w);
}

Value Embedding::forward(ModelBuilder& mb, Value x) { return mb.builder().embedding(mb.param(weight_), x); }

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, Conv2dParams params, bool bias)
    : in_(in), out_(out), kernel_(kernel), params_(params), has_bias_(bias) {
    if (params.groups < 1 || in % params.groups != 0 || out % params.groups != 0)
        throw ShapeError("Conv2d: " + std::to_string(params.groups) + " groups must divide both " + std::to_string(in) +
                         " input and " + std::to_string(out) + " output channels");
}

void Conv2d::register_parameters(ParameterSet& params, const std::string& prefix) {
    weight_ = params.add(prefix + "weight", {out_, in_ / params_.groups, kernel_, kernel_});
    if (has_bias_) bias_ = params.add(prefix + "bias", {out_});
}

void Conv2d::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    // torch.nn.Conv2d.reset_parameters: as Linear, with fan_in = in / groups * kh * kw.
    const int64_t fan_in = in_ / params_.groups * kernel_ * kernel_;
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<float> w(static_cast<std::size_t>(out_ * fan_in)), b(static_cast<std::size_t>(out_));
    for (auto& x : w) x = u(rng);
    params.set(weight_, w);
    if (!has_bias_) return;
    for (auto& x : b) x = u(rng);
    params.set(bias_, b);
}

Value Conv2d::forward(ModelBuilder& mb, Value x) {
    return mb.builder().conv2d(x, mb.param(weight_), has_bias_ ? mb.param(bias_) : Value{}, params_);
}

Value GlobalAvgPool2d::forward(ModelBuilder& mb, Value x) {
    const Shape s = x.shape();  // a copy: adding nodes may move the graph's value table
    if (s.size() != 4) throw ShapeError("GlobalAvgPool2d: input " + to_string(s) + ", expected [n, c, h, w]");
    const Value y = mb.builder().avg_pool2d(x, {s[2], s[3], s[2], s[3], 0, 0});
    return mb.builder().reshape(y, {s[0], s[1]});
}

namespace {
Conv2dParams conv_params(int64_t stride, int64_t pad) {
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    return p;
}
} // namespace

BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride)
    : conv1_(in, out, 3, conv_params(stride, 1), false), conv2_(out, out, 3, conv_params(1, 1), false),
      bn1_(out), bn2_(out) {
    if (stride != 1 || in != out) {
        down_conv_ = std::make_unique<Conv2d>(in, out, 1, conv_params(stride, 0), false);
        down_bn_ = std::make_unique<BatchNorm2d>(out);
    }
}

void BasicBlock::register_parameters(ParameterSet& params, const std::string& prefix) {
    conv1_.register_parameters(params, prefix + "conv1.");
    bn1_.register_parameters(params, prefix + "bn1.");
    conv2_.register_parameters(params, prefix + "conv2.");
    bn2_.register_parameters(params, prefix + "bn2.");
    if (down_conv_) {
        down_conv_->register_parameters(params, prefix + "downsample.0.");
        down_bn_->register_parameters(params, prefix + "downsample.1.");
    }
}

void BasicBlock::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    conv1_.init_parameters(params, rng);
    bn1_.init_parameters(params, rng);
    conv2_.init_parameters(params, rng);
    bn2_.init_parameters(params, rng);
    if (down_conv_) {
        down_conv_->init_parameters(params, rng);
        down_bn_->init_parameters(params, rng);
    }
}

Value BasicBlock::forward(ModelBuilder& mb, Value x) {
    Builder& b = mb.builder();
    const Value h = b.relu(bn1_.forward(mb, conv1_.forward(mb, x)));
    const Value y = bn2_.forward(mb, conv2_.forward(mb, h));
    const Value shortcut = down_conv_ ? down_bn_->forward(mb, down_conv_->forward(mb, x)) : x;
    return b.relu(b.add(y, shortcut));
}

void BasicBlock::state_tensors(std::vector<std::pair<std::string, Tensor>>& out) {
    bn1_.state_tensors(out);
    bn2_.state_tensors(out);
    if (down_bn_) down_bn_->state_tensors(out);
}

void BatchNorm2d::register_parameters(ParameterSet& params, const std::string& prefix) {
    prefix_ = prefix;
    weight_ = params.add(prefix + "weight", {channels_});
    bias_ = params.add(prefix + "bias", {channels_});
}

void BatchNorm2d::init_parameters(ParameterSet& params, std::mt19937_64&) {
    params.set(weight_, std::vector<float>(static_cast<std::size_t>(channels_), 1.0f));  // torch: ones, zeros
    params.set(bias_, std::vector<float>(static_cast<std::size_t>(channels_), 0.0f));
}

Value BatchNorm2d::forward(ModelBuilder& mb, Value x) {
    if (!stats_.data.defined()) stats_ = BatchNormStats::create(mb.builder().context(), channels_);
    return mb.builder().batch_norm2d(x, mb.param(weight_), mb.param(bias_), stats_, mb.training(), params_);
}

void BatchNorm2d::state_tensors(std::vector<std::pair<std::string, Tensor>>& out) {
    if (!stats_.data.defined()) return;
    out.emplace_back(prefix_ + "running_mean", stats_.running_mean());
    out.emplace_back(prefix_ + "running_var", stats_.running_var());
}

void LayerNorm::register_parameters(ParameterSet& params, const std::string& prefix) {
    weight_ = params.add(prefix + "weight", {d_});
    bias_ = params.add(prefix + "bias", {d_});
}

void LayerNorm::init_parameters(ParameterSet& params, std::mt19937_64&) {
    params.set(weight_, std::vector<float>(static_cast<std::size_t>(d_), 1.0f));
    params.set(bias_, std::vector<float>(static_cast<std::size_t>(d_), 0.0f));
}

Value LayerNorm::forward(ModelBuilder& mb, Value x) {
    return mb.builder().layer_norm(x, mb.param(weight_), mb.param(bias_), eps_);
}

Value Unflatten::forward(ModelBuilder& mb, Value x) {
    Shape out{x.shape()[0]};
    out.insert(out.end(), shape_.begin(), shape_.end());
    if (numel(out) != numel(x.shape()))
        throw ShapeError("Unflatten" + to_string(shape_) + ": input " + to_string(x.shape()) + " has " +
                         std::to_string(numel(x.shape())) + " elements, the output " + to_string(out) + " needs " +
                         std::to_string(numel(out)));
    return mb.builder().reshape(x, out);
}

Value Dropout::forward(ModelBuilder& mb, Value x) {
    if (!mb.training() || p_ <= 0.0f) return x;
    if (!rng_state_.defined()) rng_state_ = make_rng_state(mb.builder().context(), seed_);
    return mb.builder().dropout(x, p_, rng_state_);
}

Sequential& Sequential::add(std::unique_ptr<Module> m) {
    if (!m) throw Error("Sequential::add: a null module");
    modules_.push_back(std::move(m));
    return *this;
}

void Sequential::register_parameters(ParameterSet& params, const std::string& prefix) {
    for (std::size_t i = 0; i < modules_.size(); ++i)  // torch.nn.Sequential names: "0.weight", ...
        modules_[i]->register_parameters(params, prefix + std::to_string(i) + ".");
}

void Sequential::state_tensors(std::vector<std::pair<std::string, Tensor>>& out) {
    for (auto& m : modules_) m->state_tensors(out);
}

void Sequential::init_parameters(ParameterSet& params, std::mt19937_64& rng) {
    for (auto& m : modules_) m->init_parameters(params, rng);
}

Value Sequential::forward(ModelBuilder& mb, Value x) {
    for (auto& m : modules_) x = m->forward(mb, x);
    return x;
}

} // namespace vkhalf
