// The training engine: fused optimizers against fp64 references and PyTorch's golden values,
// the loss scaler's GradScaler semantics on the device, overflow skipping, fp16 against fp32
// training, one submission per step, determinism.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>

#include "reference/reference.hpp"
#include "runtime/command_list.hpp"
#include "runtime/context_impl.hpp"
#include "support.hpp"
#include "kernels/training_ops.hpp"

using namespace vkhalf;
using detail::TrainState;

namespace {

// The optimizer's flat buffers and the training state, driven one step at a time:
// check_finite -> optimizer_step -> scale_update, recorded once and replayed, as in Trainer.
struct OptimizerRig {
    Context& ctx;
    int64_t n;
    DType grad_dtype;
    Tensor grads, master, m, v, work, state;
    detail::CommandList graph;

    OptimizerRig(Context& c, int64_t count, DType gd, const OptimizerOptions& o, const LossScaleOptions& ls)
        : ctx(c), n(count), grad_dtype(gd), graph(c.impl()) {
        grads = Tensor::empty(ctx, {n}, gd);
        master = Tensor::empty(ctx, {n}, DType::f32);
        m = Tensor::from_floats(ctx, {n}, DType::f32, std::vector<float>(n, 0.0f));
        v = Tensor::from_floats(ctx, {n}, DType::f32, std::vector<float>(n, 0.0f));
        work = Tensor::empty(ctx, {n}, gd);
        const TrainState s = detail::initial_state(ls);
        state = detail::state_tensor(ctx, s);
        auto& impl = ctx.impl();
        detail::record_check_finite(graph, impl, grads, state);
        detail::record_optimizer_step(graph, ctx, o, grads, master, m, v, work, state);
        detail::record_scale_update(graph, impl, ls, state);
    }
    void set_params(const std::vector<float>& p) {
        master.upload(p);
        work.upload(p);
    }
    void step(const std::vector<float>& g) {
        grads.upload(g);
        graph.submit_and_wait();
    }
    TrainState read_state() const {
        TrainState s = detail::read_state(state);
        return s;
    }
    std::vector<uint32_t> bits(const Tensor& t) const {
        std::vector<uint32_t> out(t.bytes() / 4);
        t.download_bytes(std::as_writable_bytes(std::span(out)));
        return out;
    }
};

std::unique_ptr<Sequential> mlp(int d) {
    auto m = std::make_unique<Sequential>();
    m->emplace<Linear>(d, 32).emplace<ReLU>().emplace<Linear>(32, 10);
    return m;
}

} // namespace

TEST_SUITE("train") {

TEST_CASE("softmax_xent: fp32 loss and scaled gradient match fp64, finite for logits up to 1e4, label smoothing, "
          "an ignore index, every tier") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
              for (float eps : {0.0f, 0.1f}) {
               // Label 3 ignored (rows 9, 19, 29): no loss, zero gradient, the mean over the others.
               for (uint32_t ignore : {detail::kNoIgnoreIndex, 3u}) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                CAPTURE(eps);
                CAPTURE(ignore);
                const int64_t batch = 37, classes = 10;
                auto z = test::random_values(batch * classes, -8, 8, 21, dt == DType::f16);
                z[0] = 1e4f, z[11] = -1e4f, z[25] = 1e4f, z[26] = 1e4f;  // fp16-range logits: exp overflows fp16
                std::vector<uint32_t> labels(batch);
                for (int64_t r = 0; r < batch; ++r) labels[r] = uint32_t((r * 7) % classes);
                labels[2] = 5;  // row 2 holds the 1e4 logits at classes 5 and 6: a tie
                Tensor tz = Tensor::from_floats(*d.ctx, {batch, classes}, dt, z);
                Tensor tl = Tensor::empty(*d.ctx, {batch}, DType::u32);
                tl.upload_bytes(std::as_bytes(std::span(labels)));
                Tensor dz = Tensor::empty(*d.ctx, {batch, classes}, dt);
                const float scale = 1024.0f;
                LossScaleOptions ls;
                ls.init_scale = scale;
                const TrainState s0 = detail::initial_state(ls);
                Tensor state = detail::state_tensor(*d.ctx, s0);
                {
                    detail::CommandList g(d.ctx->impl());
                    detail::record_softmax_xent(g, d.ctx->impl(), tz, tl, state, dz, true, eps, 0, ignore);
                    g.submit_and_wait();
                }
                TrainState s = detail::read_state(state);
                double loss = 0;
                uint32_t correct = 0;
                const auto grad = dz.to_floats();
                std::size_t bad = 0;
                const int64_t kept = batch - (ignore == 3u ? 3 : 0);
                for (int64_t r = 0; r < batch; ++r) {
                    if (labels[r] == ignore) {
                        for (int64_t c = 0; c < classes; ++c) bad += grad[r * classes + c] != 0.0f;
                        continue;
                    }
                    double zmax = z[r * classes];
                    int64_t best = 0;
                    for (int64_t c = 1; c < classes; ++c)
                        if (z[r * classes + c] > zmax) zmax = z[r * classes + c], best = c;
                    double sum = 0, mean_z = 0;
                    for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[r * classes + c] - zmax), mean_z += z[r * classes + c];
                    mean_z /= classes;
                    const double lse = std::log(sum) + zmax;
                    loss += (1 - eps) * (lse - z[r * classes + labels[r]]) + eps * (lse - mean_z);
                    correct += best == int64_t(labels[r]);
                    for (int64_t c = 0; c < classes; ++c) {
                        const double p = std::exp(z[r * classes + c] - zmax) / sum;
                        const double q = (c == int64_t(labels[r]) ? 1.0 - eps : 0.0) + double(eps) / classes;
                        const double want = scale * (p - q) / double(kept);
                        const double got = grad[r * classes + c];
                        const bool ok = dt == DType::f16 ? ref::close_f16(got, want) || std::fabs(got - want) < 1e-3
                                                         : std::fabs(got - want) <= 1e-5 * std::fabs(want) + 1e-6;
                        if (!ok && bad++ < 5) MESSAGE("dz[" << r << "," << c << "] = " << got << ", want " << want);
                    }
                }
                CHECK(bad == 0);
                CHECK(std::isfinite(s.loss_sum));
                CHECK(s.loss_sum == doctest::Approx(loss).epsilon(1e-5));
                CHECK(s.correct == correct);
                CHECK(s.seen == uint32_t(kept));
               }
              }
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("gather_batch: the step's examples in this epoch's order, normalised, in every tier") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                if (v != default_variant(d.ctx->caps(), dt)) continue;  // the gather picks the default tier
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                const int64_t n = 50, features = 13, batch = 7;  // odd sizes: pairs straddle rows
                std::vector<uint8_t> px(n * features), lb(n);
                for (int64_t i = 0; i < n * features; ++i) px[i] = uint8_t((i * 31) % 256);
                for (int64_t i = 0; i < n; ++i) lb[i] = uint8_t(i % 10);
                const DeviceDataset data = DeviceDataset::upload(*d.ctx, px, lb, n, features, 10);
                std::vector<uint32_t> order(n);
                for (int64_t i = 0; i < n; ++i) order[i] = uint32_t((i * 17 + 3) % n);
                Tensor torder = Tensor::empty(*d.ctx, {n}, DType::u32);
                torder.upload_bytes(std::as_bytes(std::span(order)));
                TrainState s0 = detail::initial_state({});
                s0.step = 9;  // 7 full batches per epoch: step 9 is batch 2 of its epoch
                Tensor state = detail::state_tensor(*d.ctx, s0);
                Tensor x = Tensor::empty(*d.ctx, {batch, features}, dt), y = Tensor::empty(*d.ctx, {batch}, DType::u32);
                const detail::GatherParams gp{uint32_t(batch), uint32_t(features), uint32_t(n / batch), 0, 0.25f, 2.0f};
                {
                    detail::CommandList g(d.ctx->impl());
                    detail::record_gather(g, d.ctx->impl(), data, torder, state, gp, x, y);
                    g.submit_and_wait();
                }
                const auto got = x.to_floats();
                const auto labels = y.to_u32();
                std::size_t bad = 0;
                for (int64_t r = 0; r < batch; ++r) {
                    const uint32_t example = order[2 * batch + r];
                    CHECK(labels[r] == lb[example]);
                    for (int64_t f = 0; f < features; ++f) {
                        const double want = (px[example * features + f] / 255.0 - 0.25) * 2.0;
                        const double g = got[r * features + f];
                        bad += dt == DType::f16 ? !ref::close_f16(g, want) : std::fabs(g - want) > 1e-6;
                    }
                }
                CHECK(bad == 0);
            }
        }
        test::check_validation(*d.ctx);
    }
}

namespace {
// gather_batch.comp's augmentation draw, written again from its definition: a full-avalanche
// hash of (seed, step, row of the global batch) gives the shifts and the mirror bit.
uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}
struct Draw {
    int dy, dx;
    bool mirror;
};
Draw augmentation_draw(uint32_t seed, uint32_t step, uint32_t row, int shift, bool flip) {
    const uint32_t h = mix32(seed ^ mix32(step ^ mix32(row))), span = uint32_t(2 * shift + 1);
    return {int(h % span) - shift, int((h / span) % span) - shift, flip && (h >> 31) != 0};
}
}  // namespace

TEST_CASE("gather_batch augmentation: each image shifted and mirrored by its own draw, black borders, every tier") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            // 5 x 3 images (odd, so value pairs straddle rows), shifts of up to 2, mirrors on; a
            // batch of 24 at rows 8.. of a global batch of 40 (a rank's or micro-batch's share).
            const int64_t rows = 5, cols = 3, features = rows * cols, n = 80, batch = 24;
            const uint32_t first = 8, stride = 40, seed = 0x1234567u, step = 3;
            std::vector<uint8_t> px(n * features), lb(n);
            for (int64_t i = 0; i < n * features; ++i) px[i] = uint8_t(1 + (i * 37) % 255);  // never 0: borders show
            for (int64_t i = 0; i < n; ++i) lb[i] = uint8_t(i % 10);
            const DeviceDataset data = DeviceDataset::upload(*d.ctx, px, lb, n, features, 10);
            std::vector<uint32_t> order(n);
            for (int64_t i = 0; i < n; ++i) order[i] = uint32_t((i * 23 + 5) % n);
            Tensor torder = Tensor::empty(*d.ctx, {n}, DType::u32);
            torder.upload_bytes(std::as_bytes(std::span(order)));
            TrainState s0 = detail::initial_state({});
            s0.step = step;  // two steps per epoch: step 3 is the second of its epoch
            Tensor state = detail::state_tensor(*d.ctx, s0);
            Tensor x = Tensor::empty(*d.ctx, {batch, features}, dt), y = Tensor::empty(*d.ctx, {batch}, DType::u32);
            const detail::GatherParams gp{uint32_t(batch), uint32_t(features), 2, first, 0.25f, 2.0f, stride,
                                          uint32_t(rows), uint32_t(cols), 2, 1, seed};
            {
                detail::CommandList g(d.ctx->impl());
                detail::record_gather(g, d.ctx->impl(), data, torder, state, gp, x, y);
                g.submit_and_wait();
            }
            const auto got = x.to_floats();
            std::size_t bad = 0, shifted = 0, mirrored = 0, black = 0;
            for (int64_t r = 0; r < batch; ++r) {
                const uint32_t example = order[first + 1 * stride + uint32_t(r)];
                const Draw draw = augmentation_draw(seed, step, first + uint32_t(r), 2, true);
                shifted += draw.dx != 0 || draw.dy != 0;
                mirrored += draw.mirror;
                for (int64_t yy = 0; yy < rows; ++yy)
                    for (int64_t xx = 0; xx < cols; ++xx) {
                        const int64_t sy = yy + draw.dy, sx = (draw.mirror ? cols - 1 - xx : xx) + draw.dx;
                        const bool inside = sy >= 0 && sx >= 0 && sy < rows && sx < cols;
                        const double p = inside ? px[example * features + sy * cols + sx] : 0.0;
                        black += !inside;
                        const double want = (p / 255.0 - 0.25) * 2.0;
                        const double g = got[r * features + yy * cols + xx];
                        bad += dt == DType::f16 ? !ref::close_f16(g, want) : std::fabs(g - want) > 1e-6;
                    }
            }
            CHECK(bad == 0);
            // The draws vary: some images move, some mirror, some borders come out black.
            CHECK(shifted > 12);
            CHECK(mirrored > 4);
            CHECK(mirrored < 20);
            CHECK(black > 0);
            // A shape that does not match the features is refused by name.
            detail::GatherParams wrong = gp;
            wrong.cols = 4;
            detail::CommandList g(d.ctx->impl());
            CHECK_THROWS_WITH_AS(detail::record_gather(g, d.ctx->impl(), data, torder, state, wrong, x, y),
                                 doctest::Contains("rows x cols"), ShapeError);
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("gather_windows: token windows and their next-token targets at drawn starts, new every step") {
    auto& ctx = test::full_device();
    const int64_t count = 1000, batch = 6, block = 16;
    std::vector<uint32_t> stream(count);
    for (int64_t i = 0; i < count; ++i) stream[i] = uint32_t((i * 7919) % 65);  // a character vocabulary
    Tensor tokens = Tensor::empty(ctx, {count}, DType::u32);
    tokens.upload_bytes(std::as_bytes(std::span(stream)));
    Tensor x = Tensor::empty(ctx, {batch, block}, DType::u32), y = Tensor::empty(ctx, {batch, block}, DType::u32);
    const detail::WindowParams wp{uint32_t(batch), uint32_t(block), 12, 0xabcdefu};  // rows 12.. of a global batch
    std::vector<uint32_t> previous;
    for (uint32_t step : {0u, 1u, 7u}) {
        CAPTURE(step);
        TrainState s0 = detail::initial_state({});
        s0.step = step;
        Tensor state = detail::state_tensor(ctx, s0);
        {
            detail::CommandList g(ctx.impl());
            detail::record_gather_windows(g, ctx.impl(), tokens, state, wp, x, y);
            g.submit_and_wait();
        }
        const auto gx = x.to_u32(), gy = y.to_u32();
        std::size_t bad = 0;
        for (int64_t r = 0; r < batch; ++r) {
            const uint32_t start = mix32(wp.seed ^ mix32(step ^ mix32(wp.first + uint32_t(r)))) % uint32_t(count - block);
            for (int64_t t = 0; t < block; ++t) {
                bad += gx[r * block + t] != stream[start + t];
                bad += gy[r * block + t] != stream[start + t + 1];  // the next token
            }
        }
        CHECK(bad == 0);
        CHECK(gx != previous);  // another step, other windows
        previous = gx;
    }
    detail::WindowParams too_long = wp;
    too_long.block = uint32_t(count);
    detail::CommandList g(ctx.impl());
    TrainState s0 = detail::initial_state({});
    Tensor state = detail::state_tensor(ctx, s0);
    Tensor xl = Tensor::empty(ctx, {batch, count}, DType::u32), yl = Tensor::empty(ctx, {batch, count}, DType::u32);
    CHECK_THROWS_WITH_AS(detail::record_gather_windows(g, ctx.impl(), tokens, state, too_long, xl, yl),
                         doctest::Contains("no window"), ShapeError);
    test::check_validation(ctx);
}

TEST_CASE("AdamW reproduces PyTorch's golden values within 1e-6 relative") {
    auto& ctx = test::full_device();
    OptimizerOptions o;  // AdamW, lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01
    LossScaleOptions none;
    none.mode = LossScaleMode::none;
    OptimizerRig rig(ctx, 4, DType::f32, o, none);
    rig.set_params({1.0f, -0.5f, 0.25f, 0.0f});
    rig.step({0.5f, -0.25f, 1e-3f, 2.0f});
    const double after1[] = {0.9989899993, -0.4989950061, 0.2489975095, -0.0009999999311};
    auto p = rig.master.to_floats();
    for (int i = 0; i < 4; ++i) CHECK(p[i] == doctest::Approx(after1[i]).epsilon(1e-6));
    rig.step({0.1f, 0.3f, -1e-3f, -2.0f});
    rig.step({-0.2f, 0.0f, 1e-3f, 1.0f});
    const double after3[] = {0.9978225827, -0.4992384315, 0.2487093806, -0.001122074318};
    p = rig.master.to_floats();
    for (int i = 0; i < 4; ++i) CHECK(p[i] == doctest::Approx(after3[i]).epsilon(1e-6));
    CHECK(rig.read_state().optimizer_step == 3);
    test::check_validation(ctx);
}

TEST_CASE("SGD, Adam and AdamW match the fp64 reference over several steps; fp16 weights are rne(master)") {
    auto& ctx = test::full_device();
    struct Config {
        const char* name;
        OptimizerOptions o;
    };
    std::vector<Config> configs;
    {
        OptimizerOptions sgd;
        sgd.kind = OptimizerKind::sgd;
        sgd.lr = 0.05f;
        sgd.weight_decay = 1e-3f;
        configs.push_back({"sgd", sgd});
        sgd.momentum = 0.9f;
        sgd.dampening = 0.1f;
        configs.push_back({"sgd momentum", sgd});
        sgd.dampening = 0.0f;
        sgd.nesterov = true;
        configs.push_back({"sgd nesterov", sgd});
        OptimizerOptions adam;
        adam.kind = OptimizerKind::adam;
        adam.weight_decay = 1e-2f;
        configs.push_back({"adam", adam});
        configs.push_back({"adamw", OptimizerOptions{}});
        OptimizerOptions clipped;  // clip_grad_norm_ to 3: the random gradients' norm is ~36
        clipped.clip_norm = 3.0f;
        configs.push_back({"adamw clipped", clipped});
        sgd.clip_norm = 3.0f;      // SGD is not scale-invariant as Adam nearly is: a broken clip shows
        configs.push_back({"sgd nesterov clipped", sgd});
        sgd.clip_norm = 100.0f;    // above the norm: nothing changes
        configs.push_back({"sgd nesterov, clip above the norm", sgd});
    }
    const int64_t n = 1000;
    const float scale = 1024.0f;  // fp16 gradients arrive scaled; the kernel unscales
    for (const auto& cfg : configs) {
        for (DType gd : {DType::f32, DType::f16}) {
            CAPTURE(cfg.name);
            CAPTURE(to_string(gd));
            LossScaleOptions ls;
            ls.mode = LossScaleMode::fixed;
            ls.init_scale = scale;
            OptimizerRig rig(ctx, n, gd, cfg.o, ls);
            std::vector<float> p0 = test::random_values(n, -1, 1, 3, gd == DType::f16);
            rig.set_params(p0);
            std::vector<double> p(p0.begin(), p0.end()), m(n, 0.0), v(n, 0.0);
            ref::OptimizerRef r{cfg.o.kind == OptimizerKind::sgd ? 0 : cfg.o.kind == OptimizerKind::adam ? 1 : 2,
                                cfg.o.lr, cfg.o.beta1, cfg.o.beta2, cfg.o.eps, cfg.o.weight_decay, cfg.o.momentum,
                                cfg.o.dampening, cfg.o.nesterov};
            for (int t = 1; t <= 5; ++t) {
                auto g = test::random_values(n, -2, 2, 10 + t, false);
                std::vector<float> scaled(n);
                std::vector<double> unscaled(n);
                for (int64_t i = 0; i < n; ++i) {
                    scaled[i] = gd == DType::f16 ? round_to_f16(g[i] * scale) : g[i] * scale;
                    unscaled[i] = double(scaled[i]) / scale;
                }
                rig.step(scaled);
                if (cfg.o.clip_norm > 0) {  // torch.nn.utils.clip_grad_norm_ on the unscaled gradients
                    double norm = 0;
                    for (double g2 : unscaled) norm += g2 * g2;
                    const double coef = std::min(1.0, cfg.o.clip_norm / (std::sqrt(norm) + 1e-6));
                    for (double& g2 : unscaled) g2 *= coef;
                }
                ref::optimizer_step(r, t, p, m, v, unscaled);
                const auto master = rig.master.to_floats();
                std::size_t bad = 0;
                for (int64_t i = 0; i < n; ++i)
                    bad += std::fabs(master[i] - p[i]) > 2e-6 * std::max(1.0, std::fabs(p[i]));
                CHECK(bad == 0);
                // The working copy: fp16 rounded to nearest even from the fp32 master, bit for bit.
                if (gd == DType::f16) {
                    const auto work = rig.work.to_f16_bits();
                    std::size_t mismatched = 0;
                    for (int64_t i = 0; i < n; ++i) mismatched += work[i] != ref::f32_to_f16(master[i]);
                    CHECK(mismatched == 0);
                } else {
                    CHECK(rig.work.to_floats() == master);
                }
            }
        }
    }
    test::check_validation(ctx);
}

TEST_CASE("an inf or NaN anywhere in the gradient skips the step: weights and moments bitwise unchanged") {
    auto& ctx = test::full_device();
    const int64_t n = 4096;
    const uint16_t poison[] = {0x7c00, 0xfc00, 0x7e00, 0x7c01};  // +inf, -inf, qNaN, sNaN
    for (DType gd : {DType::f16, DType::f32}) {
        for (int64_t pos : {int64_t(0), int64_t(1), int64_t(2047), n - 1}) {
            for (uint16_t bad : poison) {
                CAPTURE(to_string(gd));
                CAPTURE(pos);
                CAPTURE(bad);
                LossScaleOptions ls;  // dynamic, 65536
                OptimizerRig rig(ctx, n, gd, OptimizerOptions{}, ls);
                rig.set_params(test::random_values(n, -1, 1, 5, true));
                rig.step(test::random_values(n, -100, 100, 6, true));  // one clean step: moments nonzero
                const auto master = rig.bits(rig.master), m = rig.bits(rig.m), v = rig.bits(rig.v),
                           work = rig.bits(rig.work);
                const TrainState before = rig.read_state();
                auto g = test::random_values(n, -100, 100, 7, true);
                g[pos] = gd == DType::f16 ? f16_bits_to_f32(bad) : f16_bits_to_f32(bad);  // inf / NaN in fp32 too
                rig.step(g);
                const TrainState after = rig.read_state();
                CHECK(rig.bits(rig.master) == master);
                CHECK(rig.bits(rig.m) == m);
                CHECK(rig.bits(rig.v) == v);
                CHECK(rig.bits(rig.work) == work);
                CHECK(after.scale == before.scale * 0.5f);
                CHECK(after.inv_scale == before.inv_scale * 2.0f);
                CHECK(after.growth_tracker == 0);
                CHECK(after.skipped == before.skipped + 1);
                CHECK(after.optimizer_step == before.optimizer_step);
                CHECK(after.found_inf == 0);  // cleared for the next step
                CHECK(after.step == before.step + 1);
                rig.step(test::random_values(n, -100, 100, 8, true));  // the next clean step applies
                CHECK(rig.read_state().optimizer_step == before.optimizer_step + 1);
                CHECK(rig.bits(rig.master) != master);
            }
        }
    }
    test::check_validation(ctx);
}

TEST_CASE("the loss scale doubles exactly after growth_interval clean steps and never becomes inf") {
    auto& ctx = test::full_device();
    LossScaleOptions ls;
    ls.growth_interval = 3;
    ls.init_scale = 1024;
    OptimizerRig rig(ctx, 64, DType::f16, OptimizerOptions{}, ls);
    rig.set_params(std::vector<float>(64, 0.5f));
    const std::vector<float> clean(64, 1.0f);
    std::vector<float> overflow(64, 1.0f);
    overflow[10] = INFINITY;
    rig.step(clean);
    rig.step(clean);
    CHECK(rig.read_state().scale == 1024.0f);
    CHECK(rig.read_state().growth_tracker == 2);
    rig.step(clean);  // third clean step
    CHECK(rig.read_state().scale == 2048.0f);
    CHECK(rig.read_state().growth_tracker == 0);
    rig.step(clean);
    rig.step(clean);
    rig.step(overflow);  // resets the tracker
    CHECK(rig.read_state().scale == 1024.0f);
    CHECK(rig.read_state().growth_tracker == 0);
    rig.step(clean);
    rig.step(clean);
    CHECK(rig.read_state().scale == 1024.0f);
    rig.step(clean);
    CHECK(rig.read_state().scale == 2048.0f);
    CHECK(rig.read_state().inv_scale == 1.0f / 2048.0f);

    // Near the top of fp32 the growth would overflow: the scale stays finite.
    LossScaleOptions big;
    big.growth_interval = 1;
    big.init_scale = 2.0e38f;
    OptimizerRig top(ctx, 64, DType::f16, OptimizerOptions{}, big);
    top.set_params(std::vector<float>(64, 0.5f));
    top.step(std::vector<float>(64, 0.0f));
    CHECK(top.read_state().scale == 2.0e38f);
    test::check_validation(ctx);
}

TEST_CASE("a small MLP in fp16 mixed precision follows the fp32 loss curve and reaches the same accuracy") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 2048, 64, 5);
    std::vector<double> losses[2];
    double accuracy[2] = {0, 0};
    for (Precision p : {Precision::fp32, Precision::fp16}) {
        auto model = mlp(64);
        TrainerOptions o;
        o.precision = p;
        o.batch = 64;
        o.mean = 0.5f;
        o.std = 0.25f;
        Trainer tr(ctx, *model, data, o);
        for (int epoch = 0; epoch < 3; ++epoch) {
            test::train_epoch(tr, epoch);
            losses[int(p)].push_back(tr.metrics(true).mean_loss());
        }
        accuracy[int(p)] = tr.evaluate(data).accuracy();
        CHECK(tr.metrics().skipped == 0);
    }
    for (std::size_t e = 0; e < 3; ++e) {
        CAPTURE(e);
        // Stated tolerance: per-epoch mean loss within 1% relative of the fp32 run.
        CHECK(losses[0][e] == doctest::Approx(losses[1][e]).epsilon(0.01));
    }
    CHECK(losses[0][2] < 0.5 * losses[0][0]);  // it learned
    CHECK(accuracy[0] > 0.95);
    CHECK(std::fabs(accuracy[0] - accuracy[1]) <= 0.01);
    test::check_validation(ctx);
}

TEST_CASE("a training step is one queue submission and the host does not wait inside it") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 6);
    auto model = mlp(64);
    TrainerOptions o;
    o.batch = 64;
    Trainer tr(ctx, *model, data, o);
    tr.step();
    tr.wait();
    const uint64_t before = ctx.impl().submissions;
    for (int i = 0; i < 5; ++i) {
        tr.step();
        CHECK(tr.program().running());  // step() returned with the work in flight
    }
    CHECK(ctx.impl().submissions - before == 5);
    const Metrics m = tr.metrics();
    CHECK(m.step == 6);
    CHECK(m.seen == 6 * 64);
    CHECK(ctx.impl().submissions - before == 5);  // reading metrics submits nothing
    CHECK(tr.program().barrier_count() > 0);
    CHECK(tr.program().barrier_count() < tr.program().dispatch_count());  // not one per op
    test::check_validation(ctx);
}

TEST_CASE("the op-by-op (eager) mode runs the same step: one submission per op, identical weights") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 6);
    std::vector<float> weights[2];
    for (int eager = 0; eager < 2; ++eager) {
        auto model = mlp(64);
        TrainerOptions o;
        o.batch = 64;
        o.submit_per_op = eager == 1;
        Trainer tr(ctx, *model, data, o);
        const uint64_t before = ctx.impl().submissions;
        for (int i = 0; i < 3; ++i) tr.step();
        tr.wait();
        CHECK(ctx.impl().submissions - before == (eager ? 3 * tr.program().dispatch_count() : 3));
        weights[eager] = tr.parameters().get_master(0);
    }
    CHECK(weights[0] == weights[1]);
    test::check_validation(ctx);
}

TEST_CASE("learning-rate schedules on the device: warmup, step decay, cosine") {
    auto& ctx = test::full_device();
    struct Sched {
        LrSchedule kind;
        uint32_t warmup, step_size;
        float gamma;
    };
    for (const Sched& sc : {Sched{LrSchedule::constant, 3, 1, 0.1f}, Sched{LrSchedule::step, 0, 2, 0.5f},
                            Sched{LrSchedule::step, 2, 3, 0.1f}, Sched{LrSchedule::cosine, 1, 6, 0.0f},
                            Sched{LrSchedule::cosine, 0, 4, 0.2f}}) {
        CAPTURE(int(sc.kind));
        CAPTURE(sc.warmup);
        OptimizerOptions o;
        o.kind = OptimizerKind::sgd;
        o.lr = 0.5f;
        o.weight_decay = 0.0f;
        o.schedule = sc.kind;
        o.warmup_steps = sc.warmup;
        o.step_size = sc.step_size;
        o.gamma = sc.gamma;
        LossScaleOptions none;
        none.mode = LossScaleMode::none;
        OptimizerRig rig(ctx, 2, DType::f32, o, none);
        rig.set_params({0.0f, 0.0f});
        double p = 0;
        for (int s = 0; s < 8; ++s) {  // gradient 1: p decreases by lr(s) each step
            double lr = 0.5;
            if (sc.kind == LrSchedule::step) lr *= std::pow(double(sc.gamma), s / int(sc.step_size));
            if (sc.kind == LrSchedule::cosine) {
                const double progress = std::min(1.0, double(s) / sc.step_size);
                lr *= sc.gamma + (1 - sc.gamma) * 0.5 * (1 + std::cos(3.14159265358979 * progress));
            }
            if (s < int(sc.warmup)) lr *= double(s + 1) / sc.warmup;
            p -= lr;
            rig.step({1.0f, 1.0f});
            CHECK(rig.master.to_floats()[0] == doctest::Approx(p).epsilon(1e-5));
        }
    }
    test::check_validation(ctx);
}

TEST_CASE("same seed, same device, same settings: identical losses") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 1024, 64, 7);
    std::vector<std::vector<float>> runs;
    for (int run = 0; run < 2; ++run) {
        auto model = mlp(64);
        TrainerOptions o;
        o.batch = 64;
        o.seed = 42;
        Trainer tr(ctx, *model, data, o);
        std::vector<float> losses;
        for (int epoch = 0; epoch < 2; ++epoch) {
            tr.shuffle(epoch);
            for (int64_t s = 0; s < tr.steps_per_epoch(); ++s) {
                tr.step();
                losses.push_back(float(tr.metrics(true).loss_sum));
            }
        }
        runs.push_back(losses);
    }
    CHECK(runs[0] == runs[1]);
    test::check_validation(ctx);
}

TEST_CASE("a huge initial loss scale overflows, backs off and training proceeds") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 1024, 64, 8);
    auto model = mlp(64);
    TrainerOptions o;
    o.batch = 64;
    o.loss_scale.init_scale = 16777216.0f;  // 2^24: the seeded gradient 2^24/64 overflows fp16
    Trainer tr(ctx, *model, data, o);
    const auto before = tr.parameters().get_master(0);
    tr.step();
    CHECK(tr.metrics().skipped == 1);
    CHECK(tr.parameters().get_master(0) == before);  // skipped: untouched
    for (int i = 0; i < 40; ++i) tr.step();
    const Metrics m = tr.metrics();
    CHECK(m.skipped >= 2);
    CHECK(m.loss_scale == 16777216.0f * std::pow(0.5f, float(m.skipped)));  // no growth within 2000 steps
    CHECK(m.optimizer_step == m.step - m.skipped);
    CHECK(m.consecutive_skips == 0);
    test::check_validation(ctx);
}

TEST_CASE("activation memory is reused by lifetime and training stays exact against a no-reuse run") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 9);
    auto deep = [] {
        auto m = std::make_unique<Sequential>();
        m->emplace<Linear>(64, 48).emplace<ReLU>().emplace<Linear>(48, 48).emplace<ReLU>().emplace<Linear>(48, 10);
        return m;
    };
    auto model = deep();
    TrainerOptions o;
    o.batch = 64;
    o.seed = 3;
    Trainer tr(ctx, *model, data, o);
    const MemoryPlanStats planned = tr.program().memory();
    CHECK(planned.values >= 8);
    for (int i = 0; i < 8; ++i) tr.step();
    const auto with_reuse = tr.parameters().get_master(0);
    const double loss = tr.metrics().mean_loss();
    CHECK(std::isfinite(loss));

    // The same steps recorded op by op with fresh memory for every intermediate: bitwise equal.
    auto model2 = deep();
    o.reuse_activation_memory = false;
    Trainer fresh(ctx, *model2, data, o);
    const MemoryPlanStats unplanned = fresh.program().memory();
    CHECK(unplanned.values == planned.values);
    CHECK(unplanned.planned_bytes == planned.unplanned_bytes);
    CHECK(unplanned.planned_bytes > planned.planned_bytes);  // reuse saved memory
    MESSAGE("activation memory: " << planned.planned_bytes << " B with reuse, " << unplanned.planned_bytes
                                  << " B without");
    for (int i = 0; i < 8; ++i) fresh.step();
    CHECK(fresh.parameters().get_master(0) == with_reuse);
    test::check_validation(ctx);
}

TEST_CASE("a small CNN (conv, relu, max pool, flatten, linear) learns in fp16 as in fp32") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 1024, 64, 10);  // 8x8 images
    double accuracy[2] = {0, 0};
    double first_loss[2] = {0, 0};
    for (Precision p : {Precision::fp32, Precision::fp16}) {
        Sequential model;
        model.emplace<Unflatten>(Shape{1, 8, 8})
            .emplace<Conv2d>(1, 8, 3, Conv2dParams{1, 1, 1, 1})
            .emplace<ReLU>()
            .emplace<MaxPool2d>(2)
            .emplace<Flatten>()
            .emplace<Linear>(8 * 4 * 4, 10);
        TrainerOptions o;
        o.precision = p;
        o.batch = 64;
        o.mean = 0.5f;
        o.std = 0.25f;
        Trainer tr(ctx, model, data, o);
        for (int epoch = 0; epoch < 3; ++epoch) {
            test::train_epoch(tr, epoch);
            const double loss = tr.metrics(true).mean_loss();
            if (epoch == 0) first_loss[int(p)] = loss;
        }
        accuracy[int(p)] = tr.evaluate(data).accuracy();
        CHECK(tr.metrics().skipped == 0);
        // PyTorch's names for the same torch.nn.Sequential.
        CHECK(tr.parameters().infos()[0].name == "1.weight");
        CHECK(tr.parameters().infos()[0].shape == Shape{8, 1, 3, 3});
        CHECK(tr.parameters().infos()[2].name == "5.weight");
    }
    CHECK(accuracy[0] > 0.9);
    CHECK(std::fabs(accuracy[0] - accuracy[1]) <= 0.02);
    CHECK(first_loss[0] == doctest::Approx(first_loss[1]).epsilon(0.02));
    test::check_validation(ctx);
}

TEST_CASE("GELU and Dropout modules: a new dropout mask every step while training, none when evaluating") {
    auto& ctx = test::full_device();
    // One batch per epoch and a learning rate of 0: every step sees the same batch with the same
    // weights, so its loss changes only if the dropout mask does.
    const DeviceDataset one_batch = test::synthetic(ctx, 64, 64, 11);
    double losses[2][2] = {};
    for (int with_dropout = 0; with_dropout < 2; ++with_dropout) {
        Sequential model;
        model.emplace<Linear>(64, 48).emplace<GELU>().emplace<Dropout>(with_dropout ? 0.3f : 0.0f, 7u).emplace<Linear>(48, 10);
        TrainerOptions o;
        o.batch = 64;
        o.optimizer.lr = 0.0f;
        o.optimizer.weight_decay = 0.0f;
        Trainer tr(ctx, model, one_batch, o);
        for (int s = 0; s < 2; ++s) {
            tr.step();
            losses[with_dropout][s] = tr.metrics(true).loss_sum;
        }
        const Metrics a = tr.evaluate(one_batch), b = tr.evaluate(one_batch);
        CHECK(a.loss_sum == b.loss_sum);  // evaluation: no mask, deterministic
        if (with_dropout) CHECK(a.loss_sum != losses[1][0]);
    }
    CHECK(losses[0][0] == losses[0][1]);  // p = 0: nothing changes between steps
    CHECK(losses[1][0] != losses[1][1]);  // p = 0.3: a new mask each step

    // And the model learns.
    const DeviceDataset data = test::synthetic(ctx, 1024, 64, 12);
    Sequential model;
    model.emplace<Linear>(64, 48).emplace<GELU>().emplace<Dropout>(0.2f, 3u).emplace<Linear>(48, 10);
    TrainerOptions o;
    o.batch = 64;
    Trainer tr(ctx, model, data, o);
    test::train_epochs(tr, 3);
    CHECK(tr.evaluate(data).accuracy() > 0.9);
    CHECK(tr.metrics().skipped == 0);
    test::check_validation(ctx);
}

TEST_CASE("evaluate follows the dataset it is given, also one that replaced another at the same address") {
    auto& ctx = test::full_device();
    auto model = mlp(64);
    TrainerOptions o;
    o.batch = 64;
    std::unique_ptr<Trainer> tr;
    {
        const DeviceDataset train = test::synthetic(ctx, 256, 64, 1);
        tr = std::make_unique<Trainer>(ctx, *model, train, o);
    }  // the Trainer keeps the training set's memory
    for (int i = 0; i < 4; ++i) tr->step();
    std::optional<DeviceDataset> data = test::synthetic(ctx, 128, 64, 2);
    CHECK(tr->evaluate(*data).seen == 128);
    data.emplace(test::synthetic(ctx, 96, 64, 3));  // same storage, a different dataset
    const Metrics m = tr->evaluate(*data);
    CHECK(m.seen == 96);
    data.reset();
    tr->step();
    CHECK(tr->metrics().step == 5);
    test::check_validation(ctx);
}

TEST_CASE("tensor views of the flat parameter buffers are aligned and bounded") {
    auto& ctx = test::full_device();
    Tensor flat = Tensor::empty(ctx, {1024}, DType::f16);
    const int64_t align = int64_t(std::max<uint64_t>(16, ctx.caps().min_storage_offset_alignment)) / 2;
    CHECK_NOTHROW(flat.view(align, {10, 4}));
    CHECK_THROWS_AS(flat.view(1, {4}), LimitError);
    CHECK_THROWS_AS(flat.view(1000, {100}), ShapeError);
    // An odd-length f16 view in the middle: the element after it is never written (packed tier too).
    flat.upload(std::vector<float>(1024, 7.0f));
    Tensor odd = flat.view(0, {3});
    Tensor src = Tensor::from_floats(ctx, {3}, DType::f16, std::vector<float>{1, -2, 3});
    for (Variant v : test::variants(ctx, DType::f16)) relu(ctx, src, odd, {v});
    cast(ctx, Tensor::from_floats(ctx, {3}, DType::f32, std::vector<float>{4, 5, 6}), odd);
    CHECK(flat.to_floats()[3] == 7.0f);
    CHECK(odd.to_floats() == std::vector<float>{4, 5, 6});
    ParameterSet params;
    params.add("0.weight", {3, 5});
    params.add("0.bias", {3});
    params.allocate(ctx, Precision::fp16);
    CHECK(params.size() % 2 == 0);
    CHECK(params.infos()[1].offset % align == 0);
    params.set(0, std::vector<float>(15, 0.1f));
    CHECK(params.work(0).to_f16_bits()[14] == f32_to_f16_bits(0.1f));
    CHECK(params.get_master(0)[0] == 0.1f);
}

} // TEST_SUITE
