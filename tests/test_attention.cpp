// shaders/attention.comp (fused causal self-attention, forward and backward) in every tier on
// both test devices against fp64; the fp64 backward against central finite differences; the
// fused kernel against the composed form in a graph; large logits stay finite.
#include <doctest/doctest.h>

#include <cmath>

#include "reference/attention.hpp"
#include "support.hpp"
#include "vkhalf/vkhalf.hpp"

using namespace vkhalf;

namespace {

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Elements outside tol * (1 + |want|), the first few printed.
std::size_t count_bad(const std::vector<float>& got, const std::vector<double>& want, double tol, const char* what) {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
        if (!(std::fabs(got[i] - want[i]) <= tol * (1 + std::fabs(want[i]))) && bad++ < 5)
            MESSAGE(what << "[" << i << "] = " << got[i] << ", want " << want[i]);
    return bad;
}

} // namespace

TEST_SUITE("attention") {

TEST_CASE("fused causal attention, forward and backward, matches fp64 in every tier") {
    // Odd T and a ragged batch x heads x T, so no row count is a multiple of the workgroup; then
    // T = 300 with heads of 64: two workgroups per head and shared-memory tiles of 16 rows, so the
    // tiles' edges, the causal cut inside a tile and the backward's query tiles all run.
    struct Case {
        int n, T, heads, d;
    };
    for (const Case k : {Case{2, 19, 3, 8}, Case{1, 300, 1, 64}})
        for (auto& dev : test::devices())
            for (DType dt : {DType::f32, DType::f16})
                for (Variant v : test::variants(*dev.ctx, dt)) {
                    const int n = k.n, T = k.T, heads = k.heads, d = k.d, C = heads * d;
                    CAPTURE(T);
                    CAPTURE(dev.label);
                    CAPTURE(to_string(v));
                    const bool f16 = dt == DType::f16;
                    const auto qkv = test::random_values(n * T * 3 * C, -2, 2, 71, f16);
                    const auto dy = test::random_values(n * T * C, -1, 1, 72, f16);
                    Tensor tqkv = Tensor::from_floats(*dev.ctx, {n, T, 3 * C}, dt, qkv);
                    Tensor ty = Tensor::empty(*dev.ctx, {n, T, C}, dt);
                    Tensor lse = Tensor::empty(*dev.ctx, {n * heads * T}, DType::f32);
                    causal_attention(*dev.ctx, tqkv, heads, ty, lse, {v});
                    const auto want = ref::causal_attention(widen(qkv), n, T, heads, d);
                    // fp16: the output's rounding (2^-11) over values below 2 in magnitude.
                    CHECK(count_bad(ty.to_floats(), want, f16 ? 2e-3 : 1e-5, "y") == 0);
                    Tensor tdy = Tensor::from_floats(*dev.ctx, {n, T, C}, dt, dy);
                    Tensor tdq = Tensor::empty(*dev.ctx, {n, T, 3 * C}, dt);
                    causal_attention_backward(*dev.ctx, tdy, tqkv, ty, lse, heads, tdq, {v});
                    const auto gwant = ref::causal_attention_backward(widen(qkv), widen(dy), n, T, heads, d);
                    // The backward reads the stored y (fp16-rounded) for delta = dy . y.
                    CHECK(count_bad(tdq.to_floats(), gwant, f16 ? 1e-2 : 1e-4, "dqkv") == 0);
                    test::check_validation(*dev.ctx);
                }
}

TEST_CASE("the fp64 attention backward matches central finite differences") {
    const int n = 1, T = 4, heads = 2, d = 2, C = heads * d;
    auto qkv = test::random_values(n * T * 3 * C, -1, 1, 73, false);
    const auto dy = test::random_values(n * T * C, -1, 1, 74, false);
    auto loss = [&] {
        const auto y = ref::causal_attention(widen(qkv), n, T, heads, d);
        double s = 0;
        for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * dy[i];
        return s;
    };
    const auto g = ref::causal_attention_backward(widen(qkv), widen(dy), n, T, heads, d);
    for (std::size_t i = 0; i < qkv.size(); ++i) {
        CAPTURE(i);
        CHECK(g[i] == doctest::Approx(test::central_difference(qkv, i, 1.0f / 512, loss)).epsilon(1e-4));
    }
}

TEST_CASE("fused and composed attention give the same result and gradient in a graph") {
    // loss = mse(attention(qkv), t) both ways: the fused op over the packed projection, and the
    // composed form (slices, head permutes, batched GEMMs, causal softmax, permute back).
    const int64_t n = 2, T = 24, heads = 2, d = 16, C = heads * d;
    for (auto& dev : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(dev.label);
            CAPTURE(to_string(dt));
            const bool f16 = dt == DType::f16;
            const auto qkv = test::random_values(int(n * T * 3 * C), -2, 2, 75, f16);
            const auto target = test::random_values(int(n * T * C), -1, 1, 76, f16);
            std::vector<std::vector<float>> ys, gs;
            for (bool fused : {true, false}) {
                Tensor tqkv = Tensor::from_floats(*dev.ctx, {n, T, 3 * C}, dt, qkv);
                Tensor tt = Tensor::from_floats(*dev.ctx, {n, T, C}, dt, target);
                Tensor y = Tensor::empty(*dev.ctx, {n, T, C}, dt), g = Tensor::empty(*dev.ctx, {n, T, 3 * C}, dt);
                Builder b(*dev.ctx);
                const Value x = b.parameter(tqkv, "qkv");
                Value a;
                if (fused) {
                    a = b.causal_self_attention(x, heads);
                } else {
                    auto part = [&](int64_t k) {
                        const Value p = b.reshape(b.slice(x, 2, k * C, C), {n, T, heads, d});
                        return b.reshape(b.permute(p, {0, 2, 1, 3}), {n * heads, T, d});
                    };
                    const Value o = b.scaled_dot_product_attention(part(0), part(1), part(2), true);
                    a = b.reshape(b.permute(b.reshape(o, {n, heads, T, d}), {0, 2, 1, 3}), {n, T, C});
                }
                const auto grads = b.grad(b.mse_loss(a, b.input(tt, "target")), {x});
                Program p(b, {{a, y}, {grads[0], g}});
                p.run_and_wait();
                ys.push_back(y.to_floats());
                gs.push_back(g.to_floats());
            }
            const auto want_y = ref::causal_attention(widen(qkv), int(n), int(T), int(heads), int(d));
            CHECK(count_bad(ys[0], widen(ys[1]), f16 ? 4e-3 : 1e-5, "fused y vs composed") == 0);
            CHECK(count_bad(ys[0], want_y, f16 ? 2e-3 : 1e-5, "fused y vs fp64") == 0);
            // Gradients ~1e-3 (mse over 1536 elements): compare with an absolute floor.
            double max_g = 0;
            for (float v : gs[1]) max_g = std::max(max_g, double(std::fabs(v)));
            CHECK(max_g > 0);
            std::size_t bad = 0;
            for (std::size_t i = 0; i < gs[0].size(); ++i)
                bad += std::fabs(gs[0][i] - gs[1][i]) > (f16 ? 2e-2 : 1e-4) * max_g;
            CHECK(bad == 0);
            test::check_validation(*dev.ctx);
        }
}

TEST_CASE("fused attention stays finite and exact for scores of +-1e4") {
    // q . k / sqrt(d) of about +-1e4: a naive exp overflows; the online softmax subtracts the
    // running maximum. With one dominant key per query, y is that key's value row.
    const int n = 1, T = 6, heads = 1, C = 2;  // one head of 2
    std::vector<float> qkv(std::size_t(n * T * 3 * C), 0.0f);
    for (int t = 0; t < T; ++t) {
        float* row = qkv.data() + t * 3 * C;
        row[0] = 100.0f, row[1] = 0.0f;                            // q
        row[C] = (t % 2 ? -1.0f : 1.0f) * 141.0f, row[C + 1] = 0;  // k: scores +-141 * 100 / sqrt(2) ~ +-1e4
        row[2 * C] = float(t), row[2 * C + 1] = -float(t);         // v
    }
    for (DType dt : {DType::f32, DType::f16}) {
        auto& ctx = test::full_device();
        Tensor tqkv = Tensor::from_floats(ctx, {n, T, 3 * C}, dt, qkv);
        Tensor y = Tensor::empty(ctx, {n, T, C}, dt), lse = Tensor::empty(ctx, {T}, DType::f32);
        causal_attention(ctx, tqkv, heads, y, lse);
        const auto got = y.to_floats();
        for (int t = 0; t < T; ++t) {
            CAPTURE(t);
            // Keys 0, 2, 4 score +1e4; the others -1e4: the mean of the even values up to t.
            double sum = 0;
            int count = 0;
            for (int j = 0; j <= t; j += 2) sum += j, ++count;
            CHECK(got[std::size_t(t * C)] == doctest::Approx(sum / count).epsilon(1e-3));
            CHECK(std::isfinite(lse.to_floats()[std::size_t(t)]));
        }
        test::check_validation(ctx);
    }
}

TEST_CASE("fused attention refuses what it cannot run, naming it") {
    auto& ctx = test::full_device();
    Tensor odd = Tensor::empty(ctx, {1, 4, 9}, DType::f32);  // C = 3: one head of 3 (odd)
    Tensor y = Tensor::empty(ctx, {1, 4, 3}, DType::f32), lse = Tensor::empty(ctx, {4}, DType::f32);
    CHECK_THROWS_WITH_AS(causal_attention(ctx, odd, 1, y, lse), doctest::Contains("even head size"), UnsupportedError);
    Tensor qkv = Tensor::empty(ctx, {1, 4, 12}, DType::f32);
    CHECK_THROWS_WITH_AS(causal_attention(ctx, qkv, 3, y, lse), doctest::Contains("multiple of 3 heads"), ShapeError);
    Tensor y4 = Tensor::empty(ctx, {1, 4, 4}, DType::f32), small = Tensor::empty(ctx, {3}, DType::f32);
    CHECK_THROWS_WITH_AS(causal_attention(ctx, qkv, 2, y4, small), doctest::Contains("lse is f32 [3], expected f32 [8]"), ShapeError);
    Builder b(ctx);
    CHECK_THROWS_AS(b.causal_self_attention(b.input(odd), 1), UnsupportedError);
    test::check_validation(ctx);
}

} // TEST_SUITE
