#pragma once
// Graph: a sequence of ops recorded once into one command buffer and replayed. Barriers are
// inserted only where one op's buffers conflict with an earlier op's (read after write, write
// after read or write); run() is one queue submission and does not wait, so the host can prepare
// the next step while the device works.
#include <memory>
#include <string>
#include <vector>

#include "vkhalf/activations.hpp"
#include "vkhalf/conv.hpp"
#include "vkhalf/norm.hpp"
#include "vkhalf/ops.hpp"

namespace vkhalf {

namespace detail {
class CommandList;
}

struct OpTiming {
    std::string label;
    double milliseconds;
};

class Graph {
public:
    // profile: time every dispatch with GPU timestamps (when the device has them).
    // reuse_activations: release() makes memory reusable (off: every activation is fresh).
    // submit_per_op: the eager way (one submission and host wait per op), for comparison only.
    explicit Graph(Context& ctx, bool profile = false, bool reuse_activations = true, bool submit_per_op = false);
    ~Graph();
    Graph(const Graph&) = delete;
    Graph& operator=(const Graph&) = delete;

    // Recording. Tensors must stay alive while the Graph may run (the Graph keeps what it
    // allocates itself).
    void add(const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt = {});
    void mul(const Tensor& a, const Tensor& b, Tensor& y, OpOptions opt = {});
    void scale(const Tensor& a, float alpha, Tensor& y, OpOptions opt = {});
    void relu(const Tensor& x, Tensor& y, OpOptions opt = {});
    void relu_backward(const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt = {});
    void cast(const Tensor& src, Tensor& dst);
    void sum(const Tensor& x, Tensor& out, OpOptions opt = {});
    void gemm(const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& opt = {});
    void bias_grad(const Tensor& dy, Tensor& db, BiasMode mode = BiasMode::per_column, OpOptions opt = {});
    void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const Conv2dParams& p = {},
                bool relu = false, OpOptions opt = {});
    void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p = {},
                              OpOptions opt = {});
    void conv2d_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw, const Conv2dParams& p = {},
                                OpOptions opt = {});
    void max_pool2d(const Tensor& x, Tensor& y, Tensor& argmax, const Pool2dParams& p = {}, OpOptions opt = {});
    void max_pool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx, const Pool2dParams& p = {},
                             OpOptions opt = {});
    void avg_pool2d(const Tensor& x, Tensor& y, const Pool2dParams& p = {}, OpOptions opt = {});
    void avg_pool2d_backward(const Tensor& dy, Tensor& dx, const Pool2dParams& p = {}, OpOptions opt = {});
    void batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, BatchNormStats& stats, Tensor& y,
                      bool training, BatchNormParams p = {}, OpOptions opt = {});
    void batch_norm2d_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const BatchNormStats& stats,
                               Tensor& dx, Tensor& dgamma, Tensor& dbeta, BatchNormParams p = {}, OpOptions opt = {});
    void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& stats,
                    float eps = 1e-5f, OpOptions opt = {});
    void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& stats, Tensor& dx,
                             Tensor& dgamma, Tensor& dbeta, OpOptions opt = {});
    void mse_loss(const Tensor& y, const Tensor& target, Tensor& loss, Tensor* dy = nullptr, float scale = 1.0f,
                  OpOptions opt = {});
    void activation_forward(Activation f, const Tensor& x, Tensor& y, OpOptions opt = {});
    void activation_backward(Activation f, const Tensor& dy, const Tensor& x, Tensor& dx, OpOptions opt = {});
    void dropout(const Tensor& x, Tensor& y, float p, Tensor& rng_state, RngAdvance advance, OpOptions opt = {});
    void dropout_backward(const Tensor& dy, Tensor& dx, float p, Tensor& rng_state, RngAdvance advance,
                          OpOptions opt = {});

    // Replay. run() submits once (waiting first for a previous run still in flight); wait()
    // blocks until the last run has finished.
    void run();
    void wait();
    void run_and_wait() {
        run();
        wait();
    }

    std::size_t dispatch_count() const;
    std::size_t barrier_count() const;
    std::vector<OpTiming> profile() const;  // of the last run, after wait()

    Context& context() const { return ctx_; }
    detail::CommandList& commands() { return *commands_; }
    // Keeps a tensor alive as long as the Graph (workspaces of recorded ops).
    Tensor& keep(Tensor t);

    // Activation memory planned from lifetimes, as ops are recorded: activation() returns a
    // tensor for an intermediate result, reusing the memory of one that was release()d (whose
    // last reader has been recorded) when one is large enough; the barrier tracking orders the
    // reuse. The Graph owns both.
    Tensor activation(Shape shape, DType dtype);
    void release(const Tensor& t);
    std::size_t activation_bytes() const { return activation_bytes_; }  // memory behind them
    std::size_t activation_requests() const { return activation_requests_; }

private:
    Context& ctx_;
    std::unique_ptr<detail::CommandList> commands_;
    std::vector<std::unique_ptr<Tensor>> kept_;
    std::vector<Tensor> free_;  // released activation memory (u32 tensors, whole allocations)
    std::size_t activation_bytes_ = 0, activation_requests_ = 0;
    bool reuse_ = true;
};

} // namespace vkhalf
