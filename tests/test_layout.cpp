// The layout kernel (shaders/strided_gather.comp) in every tier against a CPU gather: a copy, so
// every element must be exact; the embedding lookup (a gather of rows) and its gradient; and the
// graph's layout, reduction and broadcasting ops, whose gradients are checked against fp64
// finite differences in test_autograd.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/record.hpp"
#include "runtime/command_list.hpp"
#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

// The kernel's definition, on the host.
std::vector<float> gather_reference(const std::vector<float>& x, const Shape& y_shape, const detail::GatherMap& m) {
    std::vector<float> y(std::size_t(numel(y_shape)));
    for (std::size_t o = 0; o < y.size(); ++o) {
        std::size_t rem = o;
        int64_t src = m.offset;
        bool inside = true;
        for (std::size_t k = y_shape.size(); k-- > 0;) {
            const int64_t c = int64_t(rem % std::size_t(y_shape[k]));
            rem /= std::size_t(y_shape[k]);
            const int64_t i = c - m.lo[k];
            inside = inside && i >= 0 && i < m.in_ext[k];
            src += i * m.stride[k];
        }
        y[o] = inside ? x[std::size_t(src)] : 0.0f;
    }
    return y;
}

} // namespace

TEST_SUITE("layout") {

TEST_CASE("strided_gather: permute, slice, pad and expand maps are exact in every tier") {
    const Shape xs{3, 5, 7};  // 105 elements: odd, so the packed tier's last pair is half used
    struct Case {
        const char* name;
        Shape y;
        detail::GatherMap m;
    };
    const std::vector<Case> cases = {
        {"permute (2, 0, 1)", {7, 3, 5}, {0, {1, 35, 7}, {0, 0, 0}, {7, 3, 5}}},
        {"slice axis 1 [1, 4)", {3, 3, 7}, {7, {35, 7, 1}, {0, 0, 0}, {3, 3, 7}}},
        {"pad axis 2 at 2 into 11", {3, 5, 11}, {0, {35, 7, 1}, {0, 0, 2}, {3, 5, 7}}},
        {"expand [5, 7] -> [4, 5, 7]", {4, 5, 7}, {0, {0, 7, 1}, {0, 0, 0}, {4, 5, 7}}},
        {"transpose a slice", {7, 1}, {14, {1, 35}, {0, 0}, {7, 1}}},
    };
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16})
            for (Variant v : test::variants(*d.ctx, dt))
                for (const Case& c : cases) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(c.name);
                    const auto x = test::random_values(std::size_t(numel(xs)), -4, 4, 5, dt == DType::f16);
                    Tensor tx = Tensor::from_floats(*d.ctx, xs, dt, x), ty = Tensor::empty(*d.ctx, c.y, dt);
                    detail::CommandList cl(d.ctx->impl());
                    detail::record_strided_gather(cl, d.ctx->impl(), tx, ty, c.m, {v});
                    cl.submit_and_wait();
                    CHECK(ty.to_floats() == gather_reference(x, c.y, c.m));
                }
    for (auto& d : test::devices()) test::check_validation(*d.ctx);
}

TEST_CASE("embedding: rows at u32 indices exact, the gradient summed per index in fp32, deterministic, every tier") {
    const int64_t V = 6, D = 5;  // an odd width: the packed tier's pairs straddle rows
    const Shape is{3, 4};        // 12 tokens, repeats, one index past the table
    const std::vector<uint32_t> idx = {2, 0, 5, 2, 2, 1, 3, 0, 9, 5, 2, 4};
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16})
            for (Variant v : test::variants(*d.ctx, dt)) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                const bool f16 = dt == DType::f16;
                const auto table = test::random_values(V * D, -4, 4, 31, f16);
                const auto dy = test::random_values(12 * D, -4, 4, 32, f16);
                Tensor tt = Tensor::from_floats(*d.ctx, {V, D}, dt, table), ti = Tensor::empty(*d.ctx, is, DType::u32);
                ti.upload_bytes(std::as_bytes(std::span(idx)));
                Tensor ty = Tensor::empty(*d.ctx, {3, 4, D}, dt), tdy = Tensor::from_floats(*d.ctx, {3, 4, D}, dt, dy);
                Tensor tdt = Tensor::empty(*d.ctx, {V, D}, dt), again = Tensor::empty(*d.ctx, {V, D}, dt);
                embedding(*d.ctx, tt, ti, ty, {v});
                embedding_backward(*d.ctx, tdy, ti, tdt, {v});
                embedding_backward(*d.ctx, tdy, ti, again, {v});
                const auto y = ty.to_floats(), dtable = tdt.to_floats();
                std::size_t bad = 0;
                for (int64_t t = 0; t < 12; ++t)
                    for (int64_t k = 0; k < D; ++k) {
                        const float want = idx[t] < V ? table[idx[t] * D + k] : 0.0f;  // index 9: zeros
                        bad += y[t * D + k] != want;
                    }
                CHECK(bad == 0);
                for (int64_t r = 0; r < V; ++r)
                    for (int64_t k = 0; k < D; ++k) {
                        double want = 0;
                        for (int64_t t = 0; t < 12; ++t)
                            if (idx[t] == uint32_t(r)) want += dy[t * D + k];
                        const double got = dtable[r * D + k];
                        // fp32 sums of at most four terms; f16 storage rounds the result once.
                        const bool ok = f16 ? ref::close_f16(got, want) : std::fabs(got - want) <= 1e-6 * (1 + std::fabs(want));
                        if (!ok && bad++ < 5) MESSAGE("dtable[" << r << "," << k << "] = " << got << ", want " << want);
                    }
                CHECK(bad == 0);
                CHECK(again.to_floats() == dtable);  // the same sum, bit for bit
            }
    auto& ctx = test::full_device();
    Tensor table = Tensor::empty(ctx, {4, 3}, DType::f32), idx_f = Tensor::empty(ctx, {2}, DType::f32);
    Tensor idx_u = Tensor::empty(ctx, {2}, DType::u32), y = Tensor::empty(ctx, {2, 4}, DType::f32);
    CHECK_THROWS_AS(embedding(ctx, table, idx_f, y), DTypeError);
    CHECK_THROWS_WITH_AS(embedding(ctx, table, idx_u, y), doctest::Contains("[2, 3]"), ShapeError);
    for (auto& d : test::devices()) test::check_validation(*d.ctx);
}

TEST_CASE("strided_gather refuses a map that reads outside x") {
    auto& ctx = test::full_device();
    Tensor x = Tensor::empty(ctx, {4, 4}, DType::f32), y = Tensor::empty(ctx, {4, 4}, DType::f32);
    detail::CommandList cl(ctx.impl());
    CHECK_THROWS_AS(detail::record_strided_gather(cl, ctx.impl(), x, y, {1, {4, 1}, {0, 0}, {4, 4}}, {}), ShapeError);
    CHECK_THROWS_AS(detail::record_strided_gather(cl, ctx.impl(), x, y, {0, {4}, {0}, {4}}, {}), ShapeError);
}

TEST_CASE("graph layout ops compute what they say: transpose, slice, concat, expand, sum, mean") {
    auto& ctx = test::full_device();
    Builder b(ctx);
    const auto xv = test::random_values(24, -2, 2, 9, false);
    Tensor tx = Tensor::from_floats(ctx, {2, 3, 4}, DType::f32, xv);
    const Value x = b.input(tx);
    auto at = [&](int i, int j, int k) { return xv[std::size_t((i * 3 + j) * 4 + k)]; };
    struct Out {
        Value v;
        Tensor t;
    };
    std::vector<Out> outs;
    auto bind = [&](Value v) {
        outs.push_back({v, Tensor::empty(ctx, v.shape(), DType::f32)});
        return outs.size() - 1;
    };
    const std::size_t t = bind(b.transpose(x, 0, 2));
    const std::size_t s = bind(b.slice(x, 1, 1, 2));
    const Value parts[] = {b.slice(x, 2, 0, 1), b.slice(x, 2, 1, 3)};
    const std::size_t c = bind(b.concat(parts, -1));
    const std::size_t e = bind(b.add(x, b.slice(x, 0, 0, 1)));  // [2,3,4] + [1,3,4]
    const std::size_t sum1 = bind(b.sum(x, {1}));
    const std::size_t sum02 = bind(b.sum(x, {0, 2}, true));
    const std::size_t all = bind(b.mean(x, {0, 1, 2}));
    std::vector<Binding> bindings;
    for (const Out& o : outs) bindings.push_back({o.v, o.t});
    Program p(b, bindings);
    p.run_and_wait();
    CHECK(outs[t].t.shape() == Shape{4, 3, 2});
    const auto tv = outs[t].t.to_floats(), sv = outs[s].t.to_floats(), cv = outs[c].t.to_floats();
    const auto ev = outs[e].t.to_floats(), s1 = outs[sum1].t.to_floats(), s02 = outs[sum02].t.to_floats();
    CHECK(outs[sum02].t.shape() == Shape{1, 3, 1});
    double total = 0;
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 4; ++k) {
                total += at(i, j, k);
                CHECK(tv[std::size_t((k * 3 + j) * 2 + i)] == at(i, j, k));
                if (j >= 1) CHECK(sv[std::size_t((i * 2 + j - 1) * 4 + k)] == at(i, j, k));
                CHECK(cv[std::size_t((i * 3 + j) * 4 + k)] == at(i, j, k));
                CHECK(ev[std::size_t((i * 3 + j) * 4 + k)] == doctest::Approx(at(i, j, k) + at(0, j, k)));
            }
    for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 4; ++k)
            CHECK(s1[std::size_t(i * 4 + k)] == doctest::Approx(double(at(i, 0, k)) + at(i, 1, k) + at(i, 2, k)));
    for (int j = 0; j < 3; ++j) {
        double want = 0;
        for (int i = 0; i < 2; ++i)
            for (int k = 0; k < 4; ++k) want += at(i, j, k);
        CHECK(s02[std::size_t(j)] == doctest::Approx(want).epsilon(1e-6));
    }
    CHECK(outs[all].t.to_floats()[0] == doctest::Approx(total / 24).epsilon(1e-6));
    CHECK_THROWS_AS(b.add(x, b.slice(x, 1, 0, 2)), ShapeError);  // [2,3,4] + [2,2,4]
    CHECK_THROWS_AS(b.slice(x, 1, 2, 2), ShapeError);
    CHECK_THROWS_AS(b.permute(x, {0, 0, 1}), ShapeError);
    test::check_validation(ctx);
}

} // TEST_SUITE
