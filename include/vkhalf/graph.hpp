#pragma once
// Graph: a sequence of ops recorded once into one command buffer and replayed. Barriers are
// inserted only where one op's buffers conflict with an earlier op's (read after write, write
// after read or write); run() is one queue submission and does not wait, so the host can prepare
// the next step while the device works.
#include <memory>
#include <string>
#include <vector>

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
    explicit Graph(Context& ctx, bool profile = false);
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

private:
    Context& ctx_;
    std::unique_ptr<detail::CommandList> commands_;
    std::vector<std::unique_ptr<Tensor>> kept_;
};

} // namespace vkhalf
