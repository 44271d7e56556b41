#pragma once
// A tensor-level graph with reverse-mode gradients, compiled into one replayed program.
//
//   Builder b(ctx);
//   Value x = b.input(images), w = b.parameter(weight, "fc.weight"), ...;
//   Value loss = b.mse_loss(b.relu(b.linear(x, w, bias)), b.input(target));
//   std::vector<Value> g = b.grad(loss, {w});           // the backward, as more nodes
//   Program p = compile(b, {{loss, loss_tensor}, {g[0], weight_grad}});
//   p.run_and_wait();                                  // one submission, replayable
//
// Every op is declared once (src/ir/ops.cpp): shape and dtype inference, its lowering to a
// kernel, and its vector-Jacobian product written with other ops. grad() walks the graph
// backwards from the loss; where a value fans out (a residual branch, a weight used twice) the
// gradient contributions are summed, and the compiler decides which producer writes and which
// accumulates into it (a GEMM with beta = 1). compile() prunes nodes no output needs, fuses bias
// and ReLU into GEMM and convolution epilogues, and places every intermediate in one
// liveness-based memory plan; barriers come from the hazard tracker.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vkhalf/activations.hpp"
#include "vkhalf/conv.hpp"
#include "vkhalf/norm.hpp"
#include "vkhalf/ops.hpp"
#include "vkhalf/tensor.hpp"

namespace vkhalf {

// One dispatch of a profiled run (Program::profile, CompileOptions::profile): its label and its
// GPU time from timestamps.
struct OpTiming {
    std::string label;
    double milliseconds;
};

namespace detail {
struct GraphIR;
enum class OpKind : uint8_t;
struct ProgramHooks;
struct ProgramAccess;
} // namespace detail

// A symbolic tensor: one node's output in a Builder's graph. Valid while its Builder lives.
class Value {
public:
    Value() = default;
    bool defined() const { return ir_ != nullptr; }
    // A copy: the graph's table of values moves as nodes are added, so a reference kept across
    // another op would dangle.
    Shape shape() const;
    DType dtype() const;
    int id() const { return id_; }

private:
    friend class Builder;
    friend class Program;
    Value(detail::GraphIR* ir, int id) : ir_(ir), id_(id) {}
    detail::GraphIR* ir_ = nullptr;
    int id_ = -1;
};

// The attributes of Builder::apply (each op reads the ones it has).
struct OpAttributes {
    bool trans_a = false, trans_b = false;  // matmul
    float alpha = 1.0f;                     // scale
    Activation activation = Activation::gelu;
    Shape shape;                            // reshape (one extent may be -1)
    Conv2dParams conv;                      // conv2d
    Pool2dParams pool;                      // avg_pool2d, max_pool2d
    float eps = 1e-5f;                      // layer_norm
    int64_t heads = 1;                      // causal_attention
    DType dtype = DType::f32;               // cast: the target
};

class Builder {
public:
    explicit Builder(Context& ctx);
    ~Builder();
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;
    Context& context() const;

    // ---- leaves: tensors the program reads (they must outlive every Program compiled from here)
    // An input (data, targets): no gradient unless requires_grad.
    Value input(const Tensor& t, std::string name = "input", bool requires_grad = false);
    // A parameter; requires_grad false freezes it (grad() refuses it, so nothing updates it).
    Value parameter(const Tensor& t, std::string name, bool requires_grad = true);

    // ---- ops: operands share a dtype (f32 or f16); see src/ir/ops.cpp for each declaration
    // op(a) op(b): a [M, K] ([K, M] with trans_a), b [K, N] ([N, K] with trans_b); either may
    // have a leading batch dimension (both: the same), making the result [batch, M, N].
    Value matmul(Value a, Value b, bool trans_a = false, bool trans_b = false);
    // x W^T (+ b) as torch.nn.functional.linear: x [..., in], w [out, in], b [out].
    Value linear(Value x, Value w, Value b = {});
    // x + b broadcast over rows ([rows, n] + [n]) or over NCHW's channels ([n, c, h, w] + [c]).
    Value add_bias(Value x, Value b);
    // Elementwise, with numpy broadcasting: shapes aligned right, an extent of 1 repeats (the
    // operand is expanded first; its gradient sums over the repeated dimensions).
    Value add(Value a, Value b);
    Value sub(Value a, Value b);
    Value mul(Value a, Value b);
    Value div(Value a, Value b);  // in fp32, rounded once to the storage type
    Value scale(Value x, float alpha);
    // x in another float dtype (f32 <-> f16, round to nearest even; its gradient is cast back):
    // how one graph mixes precisions, e.g. an fp32 residual stream beside fp16 layers. x itself
    // when it already has that dtype.
    Value cast(Value x, DType dtype);
    Value relu(Value x);
    Value activation(Activation f, Value x);  // GELU (exact), tanh, sigmoid
    // The same elements in another shape (a view, no copy); one extent may be -1.
    Value reshape(Value x, Shape shape);
    Value flatten(Value x);  // [batch, ...] -> [batch, rest]
    // Layout ops (up to 6 dimensions; negative axes count from the end). Each is a copy.
    Value permute(Value x, std::vector<int64_t> dims);  // y's dimension k is x's dims[k]
    Value transpose(Value x, int64_t dim0, int64_t dim1);
    Value slice(Value x, int64_t axis, int64_t start, int64_t length);
    Value concat(std::span<const Value> xs, int64_t axis);
    Value concat(std::initializer_list<Value> xs, int64_t axis) {
        return concat(std::span<const Value>(xs.begin(), xs.size()), axis);
    }
    Value expand(Value x, Shape shape);  // broadcast_to
    // Sums over axes in fp32, stored in x's dtype; without keepdim the axes disappear (all of
    // them: a [1] value). mean divides by the count.
    Value sum(Value x, std::vector<int64_t> axes, bool keepdim = false);
    Value mean(Value x, std::vector<int64_t> axes, bool keepdim = false);
    Value silu(Value x);  // x * sigmoid(x), composed
    Value conv2d(Value x, Value w, Value b = {}, const Conv2dParams& p = {});
    Value avg_pool2d(Value x, const Pool2dParams& p);
    Value max_pool2d(Value x, const Pool2dParams& p);
    // torch.nn.BatchNorm2d's forward: training normalises with the batch's statistics and updates
    // the running ones in `stats` (a side effect of every run); evaluation uses the running ones.
    // A BatchNormStats serves one batch_norm2d of a step (its saved batch statistics).
    Value batch_norm2d(Value x, Value gamma, Value beta, const BatchNormStats& stats, bool training,
                       const BatchNormParams& p = {});
    // Over the last dimension, as torch.nn.LayerNorm(d).
    Value layer_norm(Value x, Value gamma, Value beta, float eps = 1e-5f);
    // Softmax over the last axis in fp32 (finite for any finite logits). causal: x holds attention
    // scores [.., T, T] and column j of row i takes no part for j > i (probability 0).
    Value softmax(Value x, bool causal = false);
    Value log_softmax(Value x);
    // softmax(q k^T / sqrt(d)) v for q, k, v [n, T, d] (n: batch x heads), composed from two
    // batched GEMMs, a scale and the softmax (causal: position i attends to positions <= i). The
    // T x T scores are an intermediate of the step.
    Value scaled_dot_product_attention(Value q, Value k, Value v, bool causal = false);
    // Causal self-attention over GPT-2's packed projection qkv [n, T, 3C] (q, k, v side by side,
    // `heads` heads of C / heads channels each) -> [n, T, C], heads side by side: the composed
    // form's result without its head permutes, in one fused kernel (shaders/attention.comp) that
    // keeps no T x T matrix; the backward recomputes the probabilities. Head size even, <= 256.
    Value causal_self_attention(Value qkv, int64_t heads);
    // Rows of table [vocab, dim] at u32 indices of any shape: [indices..., dim]
    // (torch.nn.functional.embedding). The table's gradient sums dy's rows per index in fp32, in
    // token order; a weight tied to an output layer sums both uses.
    Value embedding(Value table, Value indices);
    // y = x * mask / (1 - p), a new mask every run, drawn from rng_state (make_rng_state); the
    // backward reuses the forward's mask. Give each dropout its own state.
    Value dropout(Value x, float p, const Tensor& rng_state);
    // mean((y - target)^2) over every element, a [1] f32 value (fp32 inside).
    Value mse_loss(Value y, Value target);
    // The same loss fused with a training state, as softmax_cross_entropy below: each run adds to
    // the state's metrics every row's loss (a row: y's last axis; its loss the mean over it), the
    // rows, and the rows whose largest output is where the target's largest is (with one-hot
    // targets, the correct predictions); the gradient is seeded with the state's loss scale
    // (grad() with seed 1) and averaged over mean_over rows (0: y's). A handle, holding no number.
    Value mse_loss(Value y, Value target, const Tensor& state, uint32_t mean_over = 0);
    // Softmax cross-entropy of logits [rows, classes] against u32 labels [rows], fp32 inside, fused
    // with a training state (Trainer::state()): each run adds the batch's loss sum, correct
    // predictions and rows to the state's metrics, and its gradient is seeded with the state's
    // loss scale on the device (grad() with seed 1). The returned [1] value is a handle for grad()
    // and for running the metrics (a Binding without a tensor); it holds no number itself.
    // mean_over: the rows the gradient averages over (0: this batch; data parallel: the global one).
    // Sequence models: logits [..., classes] with labels [...] (every position a row), and
    // ignore_index, torch's: positions with that label have no loss and no gradient, and the mean
    // (and the state's count of rows) is over the others. kNoIgnore: none.
    static constexpr uint32_t kNoIgnore = 0xffffffffu;
    Value softmax_cross_entropy(Value logits, Value labels, const Tensor& state, float label_smoothing = 0.0f,
                                uint32_t mean_over = 0, uint32_t ignore_index = kNoIgnore);

    // Any forward op of the registry by its name, for bindings (the C API): "matmul" (a third
    // operand is a bias per column), "add", "mul", "div", "scale", "relu", "activation", "reshape",
    // "conv2d" (optional bias), "avg_pool2d", "max_pool2d", "layer_norm", "mse_loss", "embedding"
    // (table, u32 indices), "causal_attention" (qkv; attrs.heads), "cast" (attrs.dtype). Ops that
    // need device state (batch_norm2d, dropout, softmax_cross_entropy) have their own methods.
    Value apply(std::string_view op, std::span<const Value> inputs, const OpAttributes& attrs = {});

    // ---- reverse mode
    // d(seed * loss)/d(each of wrt), as nodes of this graph (same shapes and dtypes as wrt).
    // `loss` is a [1] value; `seed` is the host-known scale of the gradient (a loss scale).
    // Only nodes between wrt and loss get a backward; a leaf without requires_grad is an Error.
    std::vector<Value> grad(Value loss, std::span<const Value> wrt, float seed = 1.0f);
    std::vector<Value> grad(Value loss, std::initializer_list<Value> wrt, float seed = 1.0f) {
        return grad(loss, std::span<const Value>(wrt.begin(), wrt.size()), seed);
    }

    std::size_t node_count() const;
    // One line per node: "%7 = matmul(%3, %5) [64, 10] f16 trans_b".
    std::string to_string() const;

private:
    friend class Program;
    int operand(const Value& v, const char* op) const;
    Shape broadcast(const Value& a, const Value& b, const char* op) const;
    Value elementwise(detail::OpKind kind, Value a, Value b, const char* op);
    std::shared_ptr<detail::GraphIR> ir_;
};

// Where a computed value goes: the program writes it into `tensor` (same shape and dtype). A
// Binding without a tensor runs what the value needs for its side effects (a loss's metrics).
struct Binding {
    Value value;
    Tensor tensor;
};

struct CompileOptions {
    bool fuse = true;          // bias and ReLU epilogues; gradient sums as GEMM accumulation
    bool reuse_memory = true;  // off: every intermediate gets its own memory (debugging)
    bool profile = false;      // GPU timestamps per dispatch
    bool submit_per_op = false;  // the eager way, one submission and wait per dispatch: benchmarks only
};

// Intermediates and op workspaces (im2col columns, split-K partials) share one plan.
struct MemoryPlanStats {
    std::size_t planned_bytes = 0;    // device memory behind them all (arenas)
    std::size_t unplanned_bytes = 0;  // what they would take with no reuse (same alignment)
    std::size_t values = 0;           // intermediates placed
    std::size_t workspaces = 0;       // op workspaces placed
    std::size_t arenas = 0;           // buffers (each within maxStorageBufferRange)
};

class Program {
public:
    // Compiles what `outputs` need: everything else in the builder is pruned. The bound tensors,
    // and every leaf read, must outlive the Program.
    Program(Builder& builder, std::vector<Binding> outputs, CompileOptions options = {});
    ~Program();
    Program(Program&&) noexcept;
    Program& operator=(Program&&) noexcept;

    void run();  // one submission, no wait (waits first for a run still in flight)
    void wait();
    bool running() const;  // submitted and not yet waited for
    void run_and_wait() {
        run();
        wait();
    }

    std::size_t dispatch_count() const;
    std::size_t barrier_count() const;
    MemoryPlanStats memory() const;
    // What each lowered step runs, in order, e.g. "matmul+bias+relu %9", "matmul+=%12 %14".
    std::vector<std::string> steps() const;
    std::vector<OpTiming> profile() const;  // of the last run, after wait()

private:
    friend struct detail::ProgramAccess;
    // hooks: commands recorded before and after the graph's (the Trainer's gather and update).
    Program(Builder& builder, std::vector<Binding> outputs, CompileOptions options, const detail::ProgramHooks* hooks);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace vkhalf
