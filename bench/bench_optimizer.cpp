// vkhalf-bench optimizer: the fused AdamW step over one flat parameter buffer (fp16 gradients and
// working copy, fp32 master weights and moments: 28 bytes of traffic per parameter) against a
// device-to-device copy moving the same bytes, measured in the same run.
#include <algorithm>
#include <cstdio>

#include "bench.hpp"
#include "runtime/context_impl.hpp"
#include "runtime/tensor_range.hpp"
#include "kernels/training_ops.hpp"

using namespace vkhalf;

int bench_optimizer(Context& ctx, const BenchArgs& args) {
    const int64_t n = args.params > 0 ? (args.params + 1) / 2 * 2 : 100'000'000;  // the kernel takes pairs
    constexpr double bytes_per_param = 2 + 2 * 4 + 2 * 4 + 2 * 4 + 2;  // grad r, master rw, m rw, v rw, work w
    const double traffic = bytes_per_param * double(n);
    std::printf("device: %s (%s)\n", ctx.caps().name.c_str(), ctx.caps().driver.c_str());
    std::printf("fused AdamW over %lld parameters (%.0f MB of traffic per step)\n", (long long)n, traffic / 1e6);

    Tensor grads = Tensor::empty(ctx, {n}, DType::f16), work = Tensor::empty(ctx, {n}, DType::f16);
    Tensor master = Tensor::empty(ctx, {n}, DType::f32), m1 = Tensor::empty(ctx, {n}, DType::f32);
    Tensor m2 = Tensor::empty(ctx, {n}, DType::f32);
    Tensor state = Tensor::empty(ctx, {detail::kTrainStateWords}, DType::u32);
    {  // finite values everywhere, and a state that says "no overflow": the step really runs
        const std::vector<float> values(std::size_t(n), 0.01f);
        for (Tensor* t : {&grads, &work, &master, &m1, &m2}) t->upload(values);
        const detail::TrainState s = detail::initial_state(LossScaleOptions{});
        state.upload_bytes(std::as_bytes(std::span(&s, 1)));
    }
    OptimizerOptions o;  // AdamW with torch's defaults
    detail::CommandList step(ctx.impl());
    detail::record_optimizer_step(step, ctx, o, grads, master, m1, m2, work, state);
    const double t_step = time_per_run(args.seconds_per_point * 4, [&] { step.submit_and_wait(); });

    // The reference: copy 14 bytes per parameter (master and moments read, then written elsewhere
    // in the same buffers), i.e. read + write = the optimizer's 28.
    // Buffers of at most maxStorageBufferRange each, like the optimizer's own.
    const int64_t half_bytes = int64_t(traffic / 2) / 4 * 4;
    const int64_t chunk = int64_t(std::min<uint64_t>(ctx.caps().max_storage_buffer_range, uint64_t(1) << 30)) / 4 * 4;
    std::vector<Tensor> buffers;
    detail::CommandList copy(ctx.impl());
    for (int64_t done = 0; done < half_bytes; done += chunk) {
        const int64_t bytes = std::min(chunk, half_bytes - done);
        buffers.push_back(Tensor::empty(ctx, {bytes / 4}, DType::u32));
        buffers.push_back(Tensor::empty(ctx, {bytes / 4}, DType::u32));
        copy.copy(detail::range_of(buffers.end()[-2]), detail::range_of(buffers.end()[-1]), VkDeviceSize(bytes));
    }
    const double t_copy = time_per_run(args.seconds_per_point * 4, [&] { copy.submit_and_wait(); });

    const double bw_step = traffic / t_step * 1e-9, bw_copy = 2.0 * double(half_bytes) / t_copy * 1e-9;
    std::printf("AdamW step   %9.3f ms  %7.1f GB/s\n", t_step * 1e3, bw_step);
    std::printf("buffer copy  %9.3f ms  %7.1f GB/s  (same bytes read and written)\n", t_copy * 1e3, bw_copy);
    std::printf("result: bench=optimizer device=\"%s\" params=%lld step_ms=%.3f step_gbps=%.1f copy_gbps=%.1f "
                "ratio=%.2f\n",
                ctx.caps().name.c_str(), (long long)n, t_step * 1e3, bw_step, bw_copy, bw_step / bw_copy);
    return 0;
}
