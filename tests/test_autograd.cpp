// The autograd graph (Builder, grad, Program) against fp64 references of the same graphs.
//
// Each graph is written twice: once with the Builder (the device computes the loss and the
// gradients grad() derives), once as a plain fp64 function of its leaves. The reference
// gradients are central finite differences of that function in double, so they do not share a
// single rule with the library's VJPs; a missing accumulation, a wrong transpose or a dropped
// branch shows up as an O(1) error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "compile/memory_plan.hpp"
#include "kernels/training_ops.hpp"
#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

using Vec = std::vector<double>;

// ---- fp64 building blocks of the reference graphs ----------------------------------------

// y[r, o] = sum_i x[r, i] w[o, i] + b[o]   (torch.nn.functional.linear)
Vec linear(const Vec& x, const Vec& w, const Vec* b, int rows, int in, int out) {
    Vec y(std::size_t(rows * out));
    for (int r = 0; r < rows; ++r)
        for (int o = 0; o < out; ++o) {
            double s = b ? (*b)[std::size_t(o)] : 0.0;
            for (int i = 0; i < in; ++i) s += x[std::size_t(r * in + i)] * w[std::size_t(o * in + i)];
            y[std::size_t(r * out + o)] = s;
        }
    return y;
}

Vec relu(Vec x) {
    for (double& v : x) v = std::max(v, 0.0);
    return x;
}

Vec zip(const Vec& a, const Vec& b, const std::function<double(double, double)>& f) {
    Vec y(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) y[i] = f(a[i], b[i]);
    return y;
}

double mse(const Vec& y, const Vec& t) {
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += (y[i] - t[i]) * (y[i] - t[i]);
    return s / double(y.size());
}

// NCHW, square kernel, stride 1, padding pad; groups split the channels (w [cout, cin / groups, k, k]).
Vec conv2d(const Vec& x, const Vec& w, const Vec& b, int n, int cin, int hw, int cout, int k, int pad,
           int groups = 1) {
    const int o = hw + 2 * pad - k + 1, cin_g = cin / groups, cout_g = cout / groups;
    Vec y(std::size_t(n * cout * o * o));
    for (int bn = 0; bn < n; ++bn)
        for (int co = 0; co < cout; ++co)
            for (int oy = 0; oy < o; ++oy)
                for (int ox = 0; ox < o; ++ox) {
                    double s = b[std::size_t(co)];
                    for (int ci = 0; ci < cin_g; ++ci)
                        for (int ky = 0; ky < k; ++ky)
                            for (int kx = 0; kx < k; ++kx) {
                                const int iy = oy + ky - pad, ix = ox + kx - pad;
                                const int c = co / cout_g * cin_g + ci;  // the input channel
                                if (iy < 0 || ix < 0 || iy >= hw || ix >= hw) continue;
                                s += x[std::size_t(((bn * cin + c) * hw + iy) * hw + ix)] *
                                     w[std::size_t(((co * cin_g + ci) * k + ky) * k + kx)];
                            }
                    y[std::size_t(((bn * cout + co) * o + oy) * o + ox)] = s;
                }
    return y;
}

// 2x2 average pooling, stride 2, over planes of side hw.
Vec avg_pool2(const Vec& x, int planes, int hw) {
    const int o = hw / 2;
    Vec y(std::size_t(planes * o * o));
    for (int p = 0; p < planes; ++p)
        for (int oy = 0; oy < o; ++oy)
            for (int ox = 0; ox < o; ++ox) {
                double s = 0;
                for (int dy = 0; dy < 2; ++dy)
                    for (int dx = 0; dx < 2; ++dx) s += x[std::size_t((p * hw + 2 * oy + dy) * hw + 2 * ox + dx)];
                y[std::size_t((p * o + oy) * o + ox)] = s / 4.0;
            }
    return y;
}

// Training-mode BatchNorm2d (biased batch variance, eps 1e-5), gamma and beta per channel.
Vec batch_norm(const Vec& x, const Vec& g, const Vec& b, int n, int c, int hw) {
    Vec y(x.size());
    const int plane = hw * hw;
    for (int ch = 0; ch < c; ++ch) {
        double mean = 0, var = 0;
        for (int i = 0; i < n; ++i)
            for (int p = 0; p < plane; ++p) mean += x[std::size_t((i * c + ch) * plane + p)];
        mean /= n * plane;
        for (int i = 0; i < n; ++i)
            for (int p = 0; p < plane; ++p) {
                const double d = x[std::size_t((i * c + ch) * plane + p)] - mean;
                var += d * d;
            }
        var /= n * plane;
        for (int i = 0; i < n; ++i)
            for (int p = 0; p < plane; ++p) {
                const std::size_t k = std::size_t((i * c + ch) * plane + p);
                y[k] = (x[k] - mean) / std::sqrt(var + 1e-5) * g[std::size_t(ch)] + b[std::size_t(ch)];
            }
    }
    return y;
}

// LayerNorm over rows of d (eps 1e-5).
Vec layer_norm(const Vec& x, const Vec& g, const Vec& b, int rows, int d) {
    Vec y(x.size());
    for (int r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int i = 0; i < d; ++i) mean += x[std::size_t(r * d + i)];
        mean /= d;
        for (int i = 0; i < d; ++i) var += (x[std::size_t(r * d + i)] - mean) * (x[std::size_t(r * d + i)] - mean);
        var /= d;
        for (int i = 0; i < d; ++i)
            y[std::size_t(r * d + i)] =
                (x[std::size_t(r * d + i)] - mean) / std::sqrt(var + 1e-5) * g[std::size_t(i)] + b[std::size_t(i)];
    }
    return y;
}

// 2x2 max pooling, stride 2.
Vec max_pool2(const Vec& x, int planes, int hw) {
    const int o = hw / 2;
    Vec y(std::size_t(planes * o * o));
    for (int p = 0; p < planes; ++p)
        for (int oy = 0; oy < o; ++oy)
            for (int ox = 0; ox < o; ++ox) {
                double m = -1e300;
                for (int dy = 0; dy < 2; ++dy)
                    for (int dx = 0; dx < 2; ++dx)
                        m = std::max(m, x[std::size_t((p * hw + 2 * oy + dy) * hw + 2 * ox + dx)]);
                y[std::size_t((p * o + oy) * o + ox)] = m;
            }
    return y;
}

// ---- the harness ---------------------------------------------------------------------------

struct Leaf {
    std::string name;
    Shape shape;
    bool is_parameter = true;  // else an input
    bool requires_grad = true;
    float lo = -1.0f, hi = 1.0f;
};

using DeviceGraph = std::function<Value(Builder&, const std::vector<Value>&)>;
using ReferenceGraph = std::function<double(const std::vector<Vec>&)>;

struct Outcome {
    std::vector<std::string> steps;
    MemoryPlanStats memory;
    std::vector<std::vector<float>> grads;  // of the leaves that require one, in order
    std::vector<std::vector<float>> leaf_values;
};

// Builds the graph on the device, differentiates it with respect to every leaf that requires a
// gradient, runs it, and checks the loss and every gradient against the fp64 reference.
Outcome check_graph(Context& ctx, DType dt, const std::vector<Leaf>& leaves, const DeviceGraph& build,
                    const ReferenceGraph& reference, CompileOptions copt = {}) {
    const bool f16 = dt == DType::f16;
    Builder b(ctx);
    std::vector<Value> vals, wrt;
    std::vector<Tensor> tensors;
    std::vector<Vec> host;
    Outcome out;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        const Leaf& l = leaves[i];
        auto v = test::random_values(std::size_t(numel(l.shape)), l.lo, l.hi, unsigned(1000 + 17 * i), f16);
        tensors.push_back(Tensor::from_floats(ctx, l.shape, dt, v));
        host.emplace_back(v.begin(), v.end());
        out.leaf_values.push_back(v);
        vals.push_back(l.is_parameter ? b.parameter(tensors.back(), l.name, l.requires_grad)
                                      : b.input(tensors.back(), l.name, l.requires_grad));
        if (l.requires_grad) wrt.push_back(vals.back());
    }
    const Value loss = build(b, vals);
    const std::vector<Value> grads = b.grad(loss, wrt);
    std::vector<Binding> outputs{{loss, Tensor::empty(ctx, {1}, DType::f32)}};
    for (const Value& g : grads) outputs.push_back({g, Tensor::empty(ctx, g.shape(), g.dtype())});
    Program p(b, outputs, copt);
    p.run_and_wait();
    p.run_and_wait();  // a replay computes the same again
    out.steps = p.steps();
    out.memory = p.memory();

    // fp32 storage: rounding of fp32 sums; fp16 storage: one rounding per stored intermediate.
    const double tol = f16 ? 3e-2 : 1e-4;
    const double want_loss = reference(host);
    CHECK(outputs[0].tensor.to_floats()[0] == doctest::Approx(want_loss).epsilon(f16 ? 2e-2 : 1e-5));
    std::size_t g = 0;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        if (!leaves[i].requires_grad) continue;
        CAPTURE(leaves[i].name);
        const std::vector<float> got = outputs[1 + g].tensor.to_floats();
        out.grads.push_back(got);
        ++g;
        Vec want(got.size());
        double scale = 1e-3;
        for (std::size_t k = 0; k < got.size(); ++k) {
            const double keep = host[i][k], h = 1e-6 * std::max(1.0, std::fabs(keep));
            host[i][k] = keep + h;
            const double up = reference(host);
            host[i][k] = keep - h;
            const double down = reference(host);
            host[i][k] = keep;
            want[k] = (up - down) / (2 * h);
            scale = std::max(scale, std::fabs(want[k]));
        }
        double worst = 0;
        for (std::size_t k = 0; k < got.size(); ++k) worst = std::max(worst, std::fabs(got[k] - want[k]));
        CAPTURE(scale);
        CHECK(worst <= tol * scale);
    }
    test::check_validation(ctx);
    return out;
}

// check_graph on both test devices, in f32 and f16.
void check_everywhere(const std::vector<Leaf>& leaves, const DeviceGraph& build, const ReferenceGraph& reference) {
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            check_graph(*d.ctx, dt, leaves, build, reference);
        }
}

bool has_step(const std::vector<std::string>& steps, const std::string& part) {
    return std::any_of(steps.begin(), steps.end(), [&](const std::string& s) { return s.find(part) != s.npos; });
}

const std::vector<Leaf> residual_leaves = {
    {"x", {6, 8}, false, true},  {"fc1.weight", {8, 8}}, {"fc1.bias", {8}},   {"fc2.weight", {8, 8}},
    {"fc2.bias", {8}},           {"head.weight", {4, 8}}, {"head.bias", {4}}, {"target", {6, 4}, false, false}};

// A residual block: y = head(relu(fc2(relu(fc1(x))) + x)).
Value residual_graph(Builder& b, const std::vector<Value>& v) {
    const Value h = b.relu(b.linear(v[0], v[1], v[2]));
    const Value r = b.relu(b.add(b.linear(h, v[3], v[4]), v[0]));
    return b.mse_loss(b.linear(r, v[5], v[6]), v[7]);
}

double residual_reference(const std::vector<Vec>& v) {
    const Vec h = relu(linear(v[0], v[1], &v[2], 6, 8, 8));
    const Vec r = relu(zip(linear(h, v[3], &v[4], 6, 8, 8), v[0], std::plus<double>()));
    return mse(linear(r, v[5], &v[6], 6, 8, 4), v[7]);
}

} // namespace

TEST_SUITE("autograd") {

TEST_CASE("an eager call and a graph node are one declaration: the same refusals word for word, the same bits") {
    auto& ctx = test::full_device();
    auto message = [](auto&& f) {
        try {
            f();
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    Tensor table = Tensor::empty(ctx, {4, 3}, DType::f32), idx_f = Tensor::empty(ctx, {2}, DType::f32);
    Tensor y = Tensor::empty(ctx, {2, 3}, DType::f32);
    Builder b(ctx);
    const std::string eager = message([&] { embedding(ctx, table, idx_f, y); });
    CHECK(eager == message([&] { b.embedding(b.input(table), b.input(idx_f)); }));
    CHECK(eager.find("indices must be u32") != std::string::npos);
    Tensor scores = Tensor::empty(ctx, {2, 3, 4}, DType::f32), out = Tensor::empty(ctx, {2, 3, 4}, DType::f32);
    const std::string causal = message([&] { softmax(ctx, scores, out, SoftmaxKind::causal_softmax); });
    CHECK(causal == message([&] { b.softmax(b.input(scores), true); }));
    CHECK(causal.find("[.., T, T]") != std::string::npos);
    Tensor h = Tensor::empty(ctx, {2, 3, 4}, DType::f16);
    const std::string same = message([&] { cast(ctx, h, h); });
    OpAttributes to_f16;
    to_f16.dtype = DType::f16;
    const Value hv = b.input(h);
    CHECK(same == message([&] { b.apply("cast", std::span(&hv, 1), to_f16); }));  // Builder::cast would pass it through
    // The same kernel behind both: an eager log-softmax and the compiled node agree bit for bit.
    const auto v = test::random_values(2 * 3 * 4, -5, 5, 81, true);
    Tensor x = Tensor::from_floats(ctx, {2, 3, 4}, DType::f16, v), eager_y = Tensor::empty(ctx, {2, 3, 4}, DType::f16);
    Tensor graph_y = Tensor::empty(ctx, {2, 3, 4}, DType::f16);
    softmax(ctx, x, eager_y, SoftmaxKind::log_softmax);
    Builder g(ctx);
    Program p(g, {{g.log_softmax(g.input(x)), graph_y}});
    p.run();
    p.wait();
    CHECK(eager_y.to_floats() == graph_y.to_floats());
    test::check_validation(ctx);
}

TEST_CASE("memory plan: blocks alive at the same time never overlap, and disjoint lifetimes share memory") {
    std::vector<detail::Lifetime> lives;
    for (int i = 0; i < 40; ++i) lives.push_back({i, i + 1 + (i % 3 == 0 ? 5 : 0), uint64_t(100 + 37 * (i % 7))});
    for (bool reuse : {true, false}) {
        CAPTURE(reuse);
        const detail::MemoryPlan plan = detail::plan_memory(lives, 64, 1 << 20, reuse);
        REQUIRE(plan.at.size() == lives.size());
        for (std::size_t a = 0; a < lives.size(); ++a)
            for (std::size_t c = a + 1; c < lives.size(); ++c) {
                const bool together = !reuse || (lives[a].first <= lives[c].last && lives[c].first <= lives[a].last);
                const auto end = [&](std::size_t i) { return plan.at[i].offset + (lives[i].bytes + 63) / 64 * 64; };
                const bool overlap = plan.at[a].arena == plan.at[c].arena && plan.at[a].offset < end(c) &&
                                     plan.at[c].offset < end(a);
                CHECK_FALSE((together && overlap));
            }
        uint64_t sum = 0;
        for (const auto& l : lives) sum += (l.bytes + 63) / 64 * 64;
        if (reuse)
            CHECK(plan.total() < sum / 3);
        else
            CHECK(plan.total() == sum);
    }
    // A cap splits the plan over arenas, each within it.
    const detail::MemoryPlan capped = detail::plan_memory(lives, 64, 1024, false);
    CHECK(capped.arena_bytes.size() > 1);
    for (uint64_t bytes : capped.arena_bytes) CHECK(bytes <= 1024);
}

TEST_CASE("matmul's gradient under every transpose: both operands match fp64") {
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            CAPTURE(ta);
            CAPTURE(tb);
            const int m = 5, k = 7, n = 3;
            const std::vector<Leaf> leaves = {{"a", ta ? Shape{k, m} : Shape{m, k}},
                                              {"b", tb ? Shape{n, k} : Shape{k, n}},
                                              {"target", {m, n}, false, false}};
            auto build = [=](Builder& b, const std::vector<Value>& v) {
                return b.mse_loss(b.matmul(v[0], v[1], ta, tb), v[2]);
            };
            auto reference = [=](const std::vector<Vec>& v) {
                Vec c(std::size_t(m * n), 0.0);
                for (int i = 0; i < m; ++i)
                    for (int j = 0; j < n; ++j)
                        for (int p = 0; p < k; ++p)
                            c[std::size_t(i * n + j)] += v[0][std::size_t(ta ? p * m + i : i * k + p)] *
                                                         v[1][std::size_t(tb ? j * k + p : p * n + j)];
                return mse(c, v[2]);
            };
            for (auto& d : test::devices()) {
                CAPTURE(d.label);
                check_graph(*d.ctx, DType::f32, leaves, build, reference);
            }
        }
}

TEST_CASE("batched matmul (attention's shapes), a shared 2-D weight over a batch, and linear over 3-D input") {
    const std::vector<Leaf> leaves = {{"q", {2, 3, 4}}, {"k", {2, 5, 4}}, {"w", {5, 3}},
                                      {"fc.weight", {2, 3}}, {"fc.bias", {2}}, {"target", {2, 3, 2}, false, false}};
    auto build = [](Builder& b, const std::vector<Value>& v) {
        const Value scores = b.matmul(v[0], v[1], false, true);  // [2, 3, 5] = q k^T per batch
        const Value mixed = b.matmul(scores, v[2]);              // [2, 3, 3]: a 2-D weight shared by the batch
        return b.mse_loss(b.linear(mixed, v[3], v[4]), v[5]);    // linear over the last dimension
    };
    auto reference = [](const std::vector<Vec>& v) {
        Vec out(12);
        for (int bt = 0; bt < 2; ++bt)
            for (int i = 0; i < 3; ++i) {
                double sc[5] = {0, 0, 0, 0, 0}, mx[3] = {0, 0, 0};
                for (int j = 0; j < 5; ++j)
                    for (int d = 0; d < 4; ++d)
                        sc[j] += v[0][std::size_t((bt * 3 + i) * 4 + d)] * v[1][std::size_t((bt * 5 + j) * 4 + d)];
                for (int c = 0; c < 3; ++c)
                    for (int j = 0; j < 5; ++j) mx[c] += sc[j] * v[2][std::size_t(j * 3 + c)];
                for (int o = 0; o < 2; ++o) {
                    double y = v[4][std::size_t(o)];
                    for (int c = 0; c < 3; ++c) y += mx[c] * v[3][std::size_t(o * 3 + c)];
                    out[std::size_t((bt * 3 + i) * 2 + o)] = y;
                }
            }
        return mse(out, v[5]);
    };
    check_everywhere(leaves, build, reference);
}

TEST_CASE("a residual block: gradients of every parameter and of the input match fp64") {
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            const Outcome o = check_graph(*d.ctx, dt, residual_leaves, residual_graph, residual_reference);
            // The first layer's bias and ReLU ride in the GEMM's epilogue.
            CHECK(has_step(o.steps, "matmul+bias+relu"));
            CHECK(o.memory.planned_bytes < o.memory.unplanned_bytes);
        }
}

TEST_CASE("a weight used twice: its gradient is the sum of both uses, accumulated by the second GEMM") {
    const std::vector<Leaf> leaves = {{"x", {6, 8}, false, false},
                                      {"shared.weight", {8, 8}},
                                      {"b1", {8}},
                                      {"b2", {8}},
                                      {"head.weight", {3, 8}},
                                      {"target", {6, 3}, false, false}};
    auto build = [](Builder& b, const std::vector<Value>& v) {
        const Value h = b.relu(b.linear(v[0], v[1], v[2]));
        const Value y = b.activation(Activation::tanh, b.linear(h, v[1], v[3]));
        return b.mse_loss(b.linear(y, v[4]), v[5]);
    };
    auto reference = [](const std::vector<Vec>& v) {
        const Vec h = relu(linear(v[0], v[1], &v[2], 6, 8, 8));
        Vec y = linear(h, v[1], &v[3], 6, 8, 8);
        for (double& e : y) e = std::tanh(e);
        return mse(linear(y, v[4], nullptr, 6, 8, 3), v[5]);
    };
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            const Outcome fused = check_graph(*d.ctx, dt, leaves, build, reference);
            CHECK(has_step(fused.steps, "matmul+=%"));  // no add pass, no zero fill
            const Outcome plain = check_graph(*d.ctx, dt, leaves, build, reference, {false, true, false});
            CHECK_FALSE(has_step(plain.steps, "matmul+=%"));
            CHECK(has_step(plain.steps, "add"));
        }
}

TEST_CASE("a convolution and its bias used twice: the weight- and bias-gradient kernels accumulate the second use") {
    // h = relu(conv(x, W, b)); y = conv(h, W, b): W's and b's gradients are sums of two uses. The
    // compiler folds each sum into the kernel that makes its second term (no add pass, no zero
    // fill), through both convolution algorithms; without fusion the sums are add passes.
    const std::vector<Leaf> leaves = {{"x", {2, 3, 6, 6}, false, false},
                                      {"shared.weight", {3, 3, 3, 3}},
                                      {"shared.bias", {3}},
                                      {"target", {2, 3, 6, 6}, false, false}};
    for (ConvAlgorithm algo : {ConvAlgorithm::implicit_gemm, ConvAlgorithm::lowered_gemm}) {
        auto build = [algo](Builder& b, const std::vector<Value>& v) {
            Conv2dParams same;
            same.pad_h = same.pad_w = 1;
            same.algorithm = algo;
            const Value h = b.relu(b.conv2d(v[0], v[1], v[2], same));
            return b.mse_loss(b.conv2d(h, v[1], v[2], same), v[3]);
        };
        auto reference = [](const std::vector<Vec>& v) {
            const Vec h = relu(conv2d(v[0], v[1], v[2], 2, 3, 6, 3, 3, 1));
            return mse(conv2d(h, v[1], v[2], 2, 3, 6, 3, 3, 1), v[3]);
        };
        for (auto& d : test::devices())
            for (DType dt : {DType::f32, DType::f16}) {
                CAPTURE(d.label);
                CAPTURE(to_string(dt));
                CAPTURE(int(algo));
                const Outcome fused = check_graph(*d.ctx, dt, leaves, build, reference);
                CHECK(has_step(fused.steps, "conv2d_backward_weight+=%"));
                CHECK(has_step(fused.steps, "bias_grad+=%"));
                CHECK_FALSE(has_step(fused.steps, "add"));
                const Outcome plain = check_graph(*d.ctx, dt, leaves, build, reference, {false, true, false});
                CHECK_FALSE(has_step(plain.steps, "+=%"));
                CHECK(has_step(plain.steps, "add"));
            }
    }
}

TEST_CASE("normalisation parameters used twice: the second backward adds its dgamma and dbeta into the first's") {
    // One BatchNorm2d's and one LayerNorm's weight and bias applied to two inputs (as the second
    // micro-batch does): the later use's backward runs first, so the earlier use's kernel adds into
    // the sums it left (labels "aux+="), with no add pass; gradients against fp64.
    const std::vector<Leaf> leaves = {{"x1", {2, 3, 4, 4}, false, true},
                                      {"x2", {2, 3, 4, 4}, false, true},
                                      {"bn.weight", {3}, true, true, 0.5f, 1.5f},
                                      {"bn.bias", {3}},
                                      {"ln.weight", {48}, true, true, 0.5f, 1.5f},
                                      {"ln.bias", {48}},
                                      {"target", {2, 48}, false, false}};
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            // Each use saves its own batch statistics for its backward: two stats, one weight and bias.
            const BatchNormStats stats1 = BatchNormStats::create(*d.ctx, 3), stats2 = BatchNormStats::create(*d.ctx, 3);
            auto build = [&](Builder& b, const std::vector<Value>& v) {
                const Value h1 = b.reshape(b.batch_norm2d(v[0], v[2], v[3], stats1, true), {2, 48});
                const Value h2 = b.reshape(b.batch_norm2d(v[1], v[2], v[3], stats2, true), {2, 48});
                return b.mse_loss(b.mul(b.layer_norm(h1, v[4], v[5]), b.layer_norm(h2, v[4], v[5])), v[6]);
            };
            auto reference = [](const std::vector<Vec>& v) {
                const Vec h1 = batch_norm(v[0], v[2], v[3], 2, 3, 4), h2 = batch_norm(v[1], v[2], v[3], 2, 3, 4);
                return mse(zip(layer_norm(h1, v[4], v[5], 2, 48), layer_norm(h2, v[4], v[5], 2, 48),
                               std::multiplies<double>()),
                           v[6]);
            };
            const Outcome fused = check_graph(*d.ctx, dt, leaves, build, reference);
            const auto folded = std::count_if(fused.steps.begin(), fused.steps.end(), [](const std::string& s) {
                return s.find("aux+=%") != s.npos;
            });
            CHECK(folded == 2);  // one batch_norm2d_backward and one layer_norm_backward
            CHECK_FALSE(has_step(fused.steps, "add"));
            const Outcome plain = check_graph(*d.ctx, dt, leaves, build, reference, {false, true, false});
            CHECK_FALSE(has_step(plain.steps, "aux+=%"));
            CHECK(has_step(plain.steps, "add"));
        }
    // One BatchNormStats for both uses: the second forward would overwrite what the first use's
    // backward reads. Refused by name, not trained on wrong gradients.
    auto& ctx = test::full_device();
    const BatchNormStats shared = BatchNormStats::create(ctx, 3);
    Tensor x1 = Tensor::empty(ctx, {2, 3, 4, 4}, DType::f32), x2 = Tensor::empty(ctx, {2, 3, 4, 4}, DType::f32);
    Tensor g = Tensor::empty(ctx, {3}, DType::f32), bt = Tensor::empty(ctx, {3}, DType::f32), dg = Tensor::empty(ctx, {3}, DType::f32);
    Builder b(ctx);
    const Value gv = b.parameter(g, "bn.weight"), bv = b.parameter(bt, "bn.bias");
    const Value y = b.add(b.batch_norm2d(b.input(x1), gv, bv, shared, true), b.batch_norm2d(b.input(x2), gv, bv, shared, true));
    const Value loss = b.mse_loss(y, b.input(x1));
    CHECK_THROWS_WITH_AS(Program(b, {{b.grad(loss, {gv})[0], dg}}), doctest::Contains("give each use its own statistics"),
                         UnsupportedError);
}

TEST_CASE("two inputs multiplied: the product's gradient reaches both branches") {
    const std::vector<Leaf> leaves = {{"x1", {6, 8}, false, false}, {"x2", {6, 5}, false, false},
                                      {"a.weight", {7, 8}},         {"a.bias", {7}},
                                      {"c.weight", {7, 5}},         {"c.bias", {7}},
                                      {"head.weight", {2, 7}},      {"head.bias", {2}},
                                      {"target", {6, 2}, false, false}};
    auto build = [](Builder& b, const std::vector<Value>& v) {
        const Value a = b.relu(b.linear(v[0], v[2], v[3]));
        const Value c = b.activation(Activation::sigmoid, b.linear(v[1], v[4], v[5]));
        return b.mse_loss(b.linear(b.mul(a, c), v[6], v[7]), v[8]);
    };
    auto reference = [](const std::vector<Vec>& v) {
        const Vec a = relu(linear(v[0], v[2], &v[3], 6, 8, 7));
        Vec c = linear(v[1], v[4], &v[5], 6, 5, 7);
        for (double& e : c) e = 1.0 / (1.0 + std::exp(-e));
        return mse(linear(zip(a, c, std::multiplies<double>()), v[6], &v[7], 6, 7, 2), v[8]);
    };
    check_everywhere(leaves, build, reference);
}

TEST_CASE("a frozen layer gets no gradient and no backward GEMM; the rest match fp64") {
    std::vector<Leaf> leaves = residual_leaves;
    leaves[0].requires_grad = false;  // the data
    leaves[1].requires_grad = false;  // fc1 frozen
    leaves[2].requires_grad = false;
    for (auto& d : test::devices()) {
        CAPTURE(d.label);
        const Outcome o = check_graph(*d.ctx, DType::f32, leaves, residual_graph, residual_reference);
        // Forward: 3 GEMMs. Backward: the head's dW and dx, fc2's dW; nothing below fc2.
        const auto gemms = std::count_if(o.steps.begin(), o.steps.end(),
                                         [](const std::string& s) { return s.rfind("matmul", 0) == 0; });
        CHECK(gemms == 3 + 3);
    }
    auto& ctx = test::full_device();
    Builder b(ctx);
    Tensor w = Tensor::from_floats(ctx, {2, 2}, DType::f32, std::vector<float>{1, 2, 3, 4});
    Tensor x = Tensor::from_floats(ctx, {1, 2}, DType::f32, std::vector<float>{1, 1});
    const Value wv = b.parameter(w, "frozen.weight", false), xv = b.input(x);
    const Value loss = b.mse_loss(b.linear(xv, wv), xv);
    CHECK_THROWS_WITH_AS(b.grad(loss, {wv}), doctest::Contains("frozen.weight"), Error);
    CHECK_THROWS_WITH_AS(b.grad(loss, {xv}), doctest::Contains("does not require a gradient"), Error);
}

TEST_CASE("convolution, pooling and a view: conv2d+bias+relu, avg_pool2d, flatten, linear") {
    const std::vector<Leaf> leaves = {{"x", {2, 3, 6, 6}, false, true},
                                      {"conv.weight", {4, 3, 3, 3}},
                                      {"conv.bias", {4}},
                                      {"fc.weight", {3, 36}},
                                      {"fc.bias", {3}},
                                      {"target", {2, 3}, false, false}};
    auto build = [](Builder& b, const std::vector<Value>& v) {
        Conv2dParams p;
        p.pad_h = p.pad_w = 1;
        const Value y = b.relu(b.conv2d(v[0], v[1], v[2], p));
        Pool2dParams pool;  // 2x2, stride 2
        return b.mse_loss(b.linear(b.flatten(b.avg_pool2d(y, pool)), v[3], v[4]), v[5]);
    };
    auto reference = [](const std::vector<Vec>& v) {
        const Vec y = relu(conv2d(v[0], v[1], v[2], 2, 3, 6, 4, 3, 1));
        return mse(linear(avg_pool2(y, 8, 6), v[3], &v[4], 2, 36, 3), v[5]);
    };
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            const Outcome o = check_graph(*d.ctx, dt, leaves, build, reference);
            CHECK(has_step(o.steps, "conv2d+bias+relu"));
        }
}

TEST_CASE("a depthwise-separable block: depthwise conv + ReLU, a grouped conv, a pointwise conv: gradients match fp64") {
    const std::vector<Leaf> leaves = {{"x", {2, 4, 5, 5}, false, true},
                                      {"dw.weight", {4, 1, 3, 3}},
                                      {"dw.bias", {4}},
                                      {"grouped.weight", {4, 2, 3, 3}},
                                      {"pw.weight", {6, 4, 1, 1}},
                                      {"pw.bias", {6}},
                                      {"target", {2, 6, 5, 5}, false, false}};
    auto build = [](Builder& b, const std::vector<Value>& v) {
        Conv2dParams depthwise, grouped;
        depthwise.pad_h = depthwise.pad_w = grouped.pad_h = grouped.pad_w = 1;
        depthwise.groups = 4;
        grouped.groups = 2;
        const Value h = b.relu(b.conv2d(v[0], v[1], v[2], depthwise));
        return b.mse_loss(b.conv2d(b.conv2d(h, v[3], {}, grouped), v[4], v[5]), v[6]);
    };
    auto reference = [](const std::vector<Vec>& v) {
        const Vec h = relu(conv2d(v[0], v[1], v[2], 2, 4, 5, 4, 3, 1, 4));
        const Vec g = conv2d(h, v[3], Vec(4, 0.0), 2, 4, 5, 4, 3, 1, 2);
        return mse(conv2d(g, v[4], v[5], 2, 4, 5, 6, 1, 0), v[6]);
    };
    check_everywhere(leaves, build, reference);
}

TEST_CASE("per-position cross-entropy of a sequence: logits [batch, positions, vocab], an ignore index, fp64 gradients") {
    const int64_t B = 2, T = 5, D = 8, V = 7;
    const uint32_t ignore = 4;  // a real class id, so only the ignore rule keeps it out
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            const bool f16 = dt == DType::f16;
            const auto x = test::random_values(B * T * D, -1, 1, 41, f16), w = test::random_values(V * D, -1, 1, 42, f16);
            std::vector<uint32_t> labels(B * T);
            for (int64_t i = 0; i < B * T; ++i) labels[i] = uint32_t((i * 3 + 1) % V);  // 4 at positions 1 and 8
            Tensor tx = Tensor::from_floats(*d.ctx, {B, T, D}, dt, x), tw = Tensor::from_floats(*d.ctx, {V, D}, dt, w);
            Tensor tl = Tensor::empty(*d.ctx, {B, T}, DType::u32), dw = Tensor::empty(*d.ctx, {V, D}, dt);
            tl.upload_bytes(std::as_bytes(std::span(labels)));
            LossScaleOptions one;
            one.init_scale = 1.0f;
            const detail::TrainState s0 = detail::initial_state(one);
            Tensor state = detail::state_tensor(*d.ctx, s0);
            Builder b(*d.ctx);
            const Value wv = b.parameter(tw, "head.weight");
            const Value loss = b.softmax_cross_entropy(b.linear(b.input(tx, "x"), wv), b.input(tl, "labels"), state,
                                                       0.0f, 0, ignore);
            Program p(b, {{loss, {}}, {b.grad(loss, {wv})[0], dw}});
            p.run();
            p.wait();
            detail::TrainState s = detail::read_state(state);
            // fp64: z = x W^T per position; dW = sum over kept positions of (softmax(z) - onehot)^T x / kept.
            Vec want(V * D, 0.0);
            double loss_sum = 0;
            int64_t kept = 0;
            for (int64_t i = 0; i < B * T; ++i) kept += labels[i] != ignore;
            for (int64_t i = 0; i < B * T; ++i) {
                if (labels[i] == ignore) continue;
                Vec z(V, 0.0);
                for (int64_t v = 0; v < V; ++v)
                    for (int64_t k = 0; k < D; ++k) z[v] += double(x[i * D + k]) * w[v * D + k];
                const double zmax = *std::max_element(z.begin(), z.end());
                double sum = 0;
                for (double zv : z) sum += std::exp(zv - zmax);
                loss_sum += std::log(sum) + zmax - z[labels[i]];
                for (int64_t v = 0; v < V; ++v) {
                    const double g = (std::exp(z[v] - zmax) / sum - (v == int64_t(labels[i]))) / double(kept);
                    for (int64_t k = 0; k < D; ++k) want[v * D + k] += g * x[i * D + k];
                }
            }
            CHECK(kept == B * T - 2);
            CHECK(s.seen == uint32_t(kept));
            CHECK(s.loss_sum == doctest::Approx(loss_sum).epsilon(f16 ? 2e-3 : 1e-5));
            const auto got = dw.to_floats();
            std::size_t bad = 0;
            for (int64_t i = 0; i < V * D; ++i)
                if (std::fabs(got[i] - want[i]) > (f16 ? 2e-3 : 1e-5) * (1 + std::fabs(want[i])) && bad++ < 5)
                    MESSAGE("dW[" << i << "] = " << got[i] << ", want " << want[i]);
            CHECK(bad == 0);
            test::check_validation(*d.ctx);
        }
}

TEST_CASE("an embedding tied to the output layer: the table's gradient sums both uses, against fp64 differences") {
    // h = E[idx] (tokens [2, 3]), z = h E^T + b (the head reuses E), loss = mse(z, target).
    const int64_t V = 5, D = 3, T = 6;
    const std::vector<uint32_t> idx = {1, 4, 1, 0, 3, 1};  // repeats: several rows into one
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            const bool f16 = dt == DType::f16;
            auto e = test::random_values(V * D, -1, 1, 51, f16);
            const auto bias = test::random_values(V, -1, 1, 52, f16), target = test::random_values(T * V, -1, 1, 53, f16);
            Tensor te = Tensor::from_floats(*d.ctx, {V, D}, dt, e), tb = Tensor::from_floats(*d.ctx, {V}, dt, bias);
            Tensor tt = Tensor::from_floats(*d.ctx, {2, 3, V}, dt, target), ti = Tensor::empty(*d.ctx, {2, 3}, DType::u32);
            ti.upload_bytes(std::as_bytes(std::span(idx)));
            Tensor de = Tensor::empty(*d.ctx, {V, D}, dt), db = Tensor::empty(*d.ctx, {V}, dt);
            Builder b(*d.ctx);
            const Value ev = b.parameter(te, "wte.weight"), bv = b.parameter(tb, "head.bias");
            const Value z = b.linear(b.embedding(ev, b.input(ti, "tokens")), ev, bv);
            CHECK(z.shape() == Shape{2, 3, V});
            const Value loss = b.mse_loss(z, b.input(tt, "target"));
            const auto grads = b.grad(loss, {ev, bv});
            Program p(b, {{grads[0], de}, {grads[1], db}});
            p.run();
            p.wait();
            auto reference = [&](const std::vector<float>& ee) {  // the loss in fp64
                double s = 0;
                for (int64_t t = 0; t < T; ++t)
                    for (int64_t v = 0; v < V; ++v) {
                        double zv = bias[v];
                        for (int64_t k = 0; k < D; ++k) zv += double(ee[idx[t] * D + k]) * ee[v * D + k];
                        s += (zv - target[t * V + v]) * (zv - target[t * V + v]);
                    }
                return s / double(T * V);
            };
            const auto got = de.to_floats();
            std::size_t bad = 0;
            for (int64_t i = 0; i < V * D; ++i) {
                const double want = test::central_difference(e, std::size_t(i), 1.0f / 256, [&] { return reference(e); });
                if (std::fabs(got[i] - want) > (f16 ? 4e-3 : 1e-4) * (1 + std::fabs(want)) && bad++ < 5)
                    MESSAGE("dE[" << i << "] = " << got[i] << ", want " << want);
            }
            CHECK(bad == 0);
            // Row 2 is never a token: its gradient comes from the head alone, and is not zero.
            CHECK(std::fabs(got[2 * D]) + std::fabs(got[2 * D + 1]) > 0);
            test::check_validation(*d.ctx);
        }
}

TEST_CASE("softmax, log-softmax and causal attention in a graph: gradients match fp64") {
    // loss = mse(attention(q, k, v, causal), t) + mse(log_softmax(q), u): q, k, v [2, 4, 3]
    const std::vector<Leaf> leaves = {{"q", {2, 4, 3}},           {"k", {2, 4, 3}}, {"v", {2, 4, 3}},
                                      {"t", {2, 4, 3}, false, false}, {"u", {2, 4, 3}, false, false}};
    auto build = [](Builder& b, const std::vector<Value>& v) {
        const Value a = b.scaled_dot_product_attention(v[0], v[1], v[2], true);
        return b.add(b.mse_loss(a, v[3]), b.mse_loss(b.log_softmax(v[0]), v[4]));
    };
    auto reference = [](const std::vector<Vec>& v) {
        const int n = 2, T = 4, dh = 3;
        Vec att(std::size_t(n * T * dh), 0.0), ls(std::size_t(n * T * dh), 0.0);
        for (int b = 0; b < n; ++b)
            for (int i = 0; i < T; ++i) {
                Vec s(std::size_t(i + 1));  // causal: positions 0..i
                for (int j = 0; j <= i; ++j) {
                    double dot = 0;
                    for (int c = 0; c < dh; ++c) dot += v[0][std::size_t((b * T + i) * dh + c)] * v[1][std::size_t((b * T + j) * dh + c)];
                    s[std::size_t(j)] = dot / std::sqrt(double(dh));
                }
                const double m = *std::max_element(s.begin(), s.end());
                double sum = 0;
                for (double& x : s) sum += (x = std::exp(x - m));
                for (int j = 0; j <= i; ++j)
                    for (int c = 0; c < dh; ++c)
                        att[std::size_t((b * T + i) * dh + c)] += s[std::size_t(j)] / sum * v[2][std::size_t((b * T + j) * dh + c)];
                // log_softmax of q's row (b, i) over its dh entries
                const std::size_t r = std::size_t((b * T + i) * dh);
                const double mq = std::max({v[0][r], v[0][r + 1], v[0][r + 2]});
                const double lse = mq + std::log(std::exp(v[0][r] - mq) + std::exp(v[0][r + 1] - mq) + std::exp(v[0][r + 2] - mq));
                for (int c = 0; c < dh; ++c) ls[r + std::size_t(c)] = v[0][r + std::size_t(c)] - lse;
            }
        return mse(att, v[3]) + mse(ls, v[4]);
    };
    check_everywhere(leaves, build, reference);
}

TEST_CASE("a convolutional residual block with BatchNorm, then max pooling and LayerNorm: gradients match fp64") {
    const std::vector<Leaf> leaves = {{"x", {2, 3, 4, 4}, false, true},
                                      {"conv1.weight", {4, 3, 3, 3}},
                                      {"bn1.weight", {4}, true, true, 0.5f, 1.5f},
                                      {"bn1.bias", {4}},
                                      {"down.weight", {4, 3, 1, 1}},
                                      {"ln.weight", {16}, true, true, 0.5f, 1.5f},
                                      {"ln.bias", {16}},
                                      {"target", {2, 16}, false, false}};
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dt));
            const BatchNormStats stats = BatchNormStats::create(*d.ctx, 4);
            auto build = [&](Builder& b, const std::vector<Value>& v) {
                Conv2dParams same;
                same.pad_h = same.pad_w = 1;
                const Value h = b.batch_norm2d(b.conv2d(v[0], v[1], {}, same), v[2], v[3], stats, true);
                const Value r = b.relu(b.add(h, b.conv2d(v[0], v[4])));
                const Value p = b.reshape(b.max_pool2d(r, {}), {2, 16});
                return b.mse_loss(b.layer_norm(p, v[5], v[6]), v[7]);
            };
            auto reference = [](const std::vector<Vec>& v) {
                const Vec zero4(4, 0.0), zero4b(4, 0.0);
                const Vec h = batch_norm(conv2d(v[0], v[1], zero4, 2, 3, 4, 4, 3, 1), v[2], v[3], 2, 4, 4);
                const Vec r = relu(zip(h, conv2d(v[0], v[4], zero4b, 2, 3, 4, 4, 1, 0), std::plus<double>()));
                return mse(layer_norm(max_pool2(r, 8, 4), v[5], v[6], 2, 16), v[7]);
            };
            check_graph(*d.ctx, dt, leaves, build, reference);
        }
}

TEST_CASE("layout, reduction and broadcasting ops: gradients match fp64") {
    const std::vector<Leaf> leaves = {{"x", {3, 4, 5}, false, true},
                                      {"w", {5, 4}},
                                      {"row", {5}},
                                      {"col", {3, 1, 1}},
                                      {"target", {4, 6}, false, false}};
    auto build = [](Builder& b, const std::vector<Value>& v) {
        const Value t = b.transpose(v[0], 0, 1);                       // [4, 3, 5]
        const Value s = b.silu(b.add(t, v[2]));                        // broadcast [5] over [4, 3, 5]
        const Value m = b.mul(b.permute(s, {1, 0, 2}), v[3]);          // [3, 4, 5] * [3, 1, 1]
        const Value r = b.sum(m, {0});                                  // [4, 5]
        const Value q = b.matmul(r, v[1]);                              // [4, 4]
        const Value parts[] = {b.slice(q, 1, 1, 2), b.mean(m, {0, 2}, false), q};
        const Value joined = b.concat({parts[0], b.reshape(parts[1], {4, 1}), b.slice(parts[2], 1, 0, 3)}, 1);
        return b.mse_loss(joined, v[4]);                                // [4, 6]
    };
    auto reference = [](const std::vector<Vec>& v) {
        const Vec &x = v[0], &w = v[1], &row = v[2], &col = v[3];
        Vec m(60), r(20, 0.0), q(16, 0.0), mean(4, 0.0);
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 4; ++j)
                for (int k = 0; k < 5; ++k) {
                    const double a = x[std::size_t((i * 4 + j) * 5 + k)] + row[std::size_t(k)];
                    m[std::size_t((i * 4 + j) * 5 + k)] = a / (1 + std::exp(-a)) * col[std::size_t(i)];
                }
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 4; ++j)
                for (int k = 0; k < 5; ++k) {
                    r[std::size_t(j * 5 + k)] += m[std::size_t((i * 4 + j) * 5 + k)];
                    mean[std::size_t(j)] += m[std::size_t((i * 4 + j) * 5 + k)] / 15.0;
                }
        for (int j = 0; j < 4; ++j)
            for (int n = 0; n < 4; ++n)
                for (int k = 0; k < 5; ++k) q[std::size_t(j * 4 + n)] += r[std::size_t(j * 5 + k)] * w[std::size_t(k * 4 + n)];
        Vec joined(24);
        for (int j = 0; j < 4; ++j) {
            joined[std::size_t(j * 6 + 0)] = q[std::size_t(j * 4 + 1)];
            joined[std::size_t(j * 6 + 1)] = q[std::size_t(j * 4 + 2)];
            joined[std::size_t(j * 6 + 2)] = mean[std::size_t(j)];
            for (int n = 0; n < 3; ++n) joined[std::size_t(j * 6 + 3 + n)] = q[std::size_t(j * 4 + n)];
        }
        return mse(joined, v[4]);
    };
    check_everywhere(leaves, build, reference);
}

TEST_CASE("division, broadcast: both operands' gradients match fp64") {
    const std::vector<Leaf> leaves = {{"a", {4, 5}}, {"b", {5}, true, true, 0.5f, 2.0f}, {"target", {4, 5}, false, false}};
    auto build = [](Builder& b, const std::vector<Value>& v) { return b.mse_loss(b.div(v[0], v[1]), v[2]); };
    auto reference = [](const std::vector<Vec>& v) {
        Vec y(20);
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 5; ++j) y[std::size_t(i * 5 + j)] = v[0][std::size_t(i * 5 + j)] / v[1][std::size_t(j)];
        return mse(y, v[2]);
    };
    check_everywhere(leaves, build, reference);
}

TEST_CASE("cast: an fp32 residual stream beside fp16 layers; gradients match fp64") {
    // residual_graph with the stream in f32: in an f16 graph the branch is cast up, added in f32
    // and cast back down for the head (f32 graphs: every cast is a no-op).
    auto build = [](Builder& b, const std::vector<Value>& v) {
        const DType layers = v[0].dtype();
        const Value h = b.relu(b.linear(v[0], v[1], v[2]));
        const Value stream = b.add(b.cast(v[0], DType::f32), b.cast(b.linear(h, v[3], v[4]), DType::f32));
        CHECK(stream.dtype() == DType::f32);
        return b.mse_loss(b.linear(b.relu(b.cast(stream, layers)), v[5], v[6]), v[7]);
    };
    for (auto& d : test::devices()) {
        CAPTURE(d.label);
        const Outcome o = check_graph(*d.ctx, DType::f16, residual_leaves, build, residual_reference);
        CHECK(has_step(o.steps, "cast"));              // x up to f32, and gradients down
        CHECK(has_step(o.steps, "matmul+bias->f32"));  // the branch's cast, folded into its GEMM
        CHECK(!has_step(check_graph(*d.ctx, DType::f32, residual_leaves, build, residual_reference).steps, "cast"));
    }
}

TEST_CASE("cast: an fp32 stream keeps a small update that an fp16 add rounds away; errors name the dtype") {
    auto& ctx = test::full_device();
    // 1024 + 0.25: fp16's spacing at 1024 is 1, so the fp16 sum is 1024; in f32 it is exact.
    const Tensor x = Tensor::from_floats(ctx, {2}, DType::f16, std::vector<float>{1024.0f, -2048.0f});
    const Tensor small = Tensor::from_floats(ctx, {2}, DType::f16, std::vector<float>{0.25f, 0.5f});
    Builder b(ctx);
    const Value vx = b.input(x, "x"), vs = b.input(small, "small");
    CHECK(b.cast(vx, DType::f16).id() == vx.id());  // already f16: no node
    Tensor sum16 = Tensor::empty(ctx, {2}, DType::f16), sum32 = Tensor::empty(ctx, {2}, DType::f32);
    Program p(b, {{b.add(vx, vs), sum16}, {b.add(b.cast(vx, DType::f32), b.cast(vs, DType::f32)), sum32}});
    p.run_and_wait();
    CHECK(sum16.to_floats() == std::vector<float>{1024.0f, -2048.0f});
    CHECK(sum32.to_floats() == std::vector<float>{1024.25f, -2047.5f});
    // Mixed operands without a cast, and casts the op cannot make, are refused by name.
    CHECK_THROWS_WITH_AS(b.add(b.cast(vx, DType::f32), vs), doctest::Contains("f32 vs f16"), DTypeError);
    OpAttributes to_u32;
    to_u32.dtype = DType::u32;
    const Value one[] = {vx};
    CHECK_THROWS_WITH_AS(b.apply("cast", one, to_u32), doctest::Contains("cast: the target must be f32 or f16"),
                         DTypeError);
    OpAttributes to_f16;
    to_f16.dtype = DType::f16;
    CHECK_THROWS_WITH_AS(b.apply("cast", one, to_f16), doctest::Contains("already is f16"), DTypeError);
    const Tensor idx = Tensor::empty(ctx, {2}, DType::u32);
    CHECK_THROWS_AS(b.cast(b.input(idx, "tokens"), DType::f32), DTypeError);
    test::check_validation(ctx);
}

TEST_CASE("memory reuse changes no bit of the results; fusion and reuse can be switched off") {
    auto& ctx = test::full_device();
    const Outcome reused = check_graph(ctx, DType::f16, residual_leaves, residual_graph, residual_reference);
    const Outcome fresh =
        check_graph(ctx, DType::f16, residual_leaves, residual_graph, residual_reference, {true, false, false});
    CHECK(fresh.memory.planned_bytes == fresh.memory.unplanned_bytes);
    CHECK(reused.memory.planned_bytes < fresh.memory.planned_bytes);
    CHECK(reused.grads == fresh.grads);
    const Outcome unfused =
        check_graph(ctx, DType::f16, residual_leaves, residual_graph, residual_reference, {false, true, false});
    CHECK_FALSE(has_step(unfused.steps, "+relu"));
}

TEST_CASE("outputs bound to memory the program reads: onto itself nothing, over a leaf last, overlaps refused") {
    auto& ctx = test::full_device();
    const std::vector<float> xs = {1, -2, 3, -4, 5, -6}, ws = {1, 0, 2, -1, 1, 0, 0, 3, 1};
    // A leaf bound to its own tensor, and a reshape of it to the same memory read as another
    // shape: the C API fuzzer's finding, a copy of the tensor onto itself. Nothing is recorded.
    {
        Tensor x = Tensor::from_floats(ctx, {2, 3}, DType::f32, xs);
        Builder b(ctx);
        const Value vx = b.input(x, "x");
        Program p(b, {{vx, x}, {b.reshape(vx, {3, 2}), x.reinterpret({3, 2}, DType::f32)}, {vx, x}});
        CHECK(p.steps().empty());
        p.run_and_wait();
        CHECK(x.to_floats() == xs);
    }
    // x <- x @ w in place: the GEMM reads x while it would write it, so it writes planned memory
    // and a copy over x runs after every read (z = 2 x reads the x before the step).
    {
        Tensor x = Tensor::from_floats(ctx, {2, 3}, DType::f32, xs), w = Tensor::from_floats(ctx, {3, 3}, DType::f32, ws);
        Tensor z = Tensor::empty(ctx, {2, 3}, DType::f32);
        Builder b(ctx);
        const Value vx = b.input(x, "x"), vw = b.input(w, "w");
        Program p(b, {{b.matmul(vx, vw), x}, {b.scale(vx, 2.0f), z}});
        REQUIRE(!p.steps().empty());
        CHECK(p.steps().back().rfind("copy", 0) == 0);
        auto matmul = [&](const std::vector<float>& a) {
            std::vector<float> y(6, 0.0f);
            for (int r = 0; r < 2; ++r)
                for (int c = 0; c < 3; ++c)
                    for (int k = 0; k < 3; ++k) y[std::size_t(r * 3 + c)] += a[std::size_t(r * 3 + k)] * ws[std::size_t(k * 3 + c)];
            return y;
        };
        std::vector<float> want = xs, twice(6);
        for (int step = 0; step < 2; ++step) {  // a replay starts from the updated x
            for (std::size_t i = 0; i < 6; ++i) twice[i] = 2.0f * want[i];
            want = matmul(want);
            p.run_and_wait();
            CHECK(x.to_floats() == want);  // small integers: exact in f32 with fp32 accumulation
            CHECK(z.to_floats() == twice);
        }
    }
    // Refusals: no order of writes gives both values.
    {
        const uint64_t align = std::max<uint64_t>(ctx.caps().min_storage_offset_alignment, 4);
        const int64_t step = int64_t(align / 4);  // f32 elements per aligned offset
        Tensor big = Tensor::empty(ctx, {4 * step}, DType::f32);
        Tensor a = Tensor::from_floats(ctx, {2, 3}, DType::f32, xs), c = Tensor::from_floats(ctx, {2, 3}, DType::f32, xs);
        Builder b(ctx);
        const Value va = b.input(a, "a"), vc = b.input(c, "c"), vbig = b.input(big.view(0, {2 * step}), "big");
        CHECK_THROWS_WITH_AS(Program(b, {{va, c}, {vc, a}}), doctest::Contains("written first"), Error);  // a swap
        CHECK_THROWS_WITH_AS(Program(b, {{vbig, big.view(step, {2 * step})}}), doctest::Contains("partly overlaps"), Error);
        Tensor out = Tensor::empty(ctx, {2, 3}, DType::f32);
        CHECK_THROWS_WITH_AS(Program(b, {{b.relu(va), out}, {b.scale(va, 2.0f), out}}),
                             doctest::Contains("another output"), Error);
    }
    test::check_validation(ctx);
}

TEST_CASE("bad graphs are refused with errors that name the problem") {
    auto& ctx = test::full_device();
    Builder b(ctx);
    Tensor a = Tensor::empty(ctx, {4, 3}, DType::f32), c = Tensor::empty(ctx, {4, 3}, DType::f16);
    const Value va = b.input(a, "a"), vc = b.input(c, "c");
    CHECK_THROWS_WITH_AS(b.matmul(va, va), doctest::Contains("inner dimensions"), ShapeError);
    CHECK_THROWS_AS(b.add(va, vc), DTypeError);
    CHECK_THROWS_WITH_AS(b.reshape(va, {5, -1}), doctest::Contains("do not fit"), ShapeError);
    CHECK_THROWS_AS(b.linear(va, b.input(Tensor::empty(ctx, {2, 4}, DType::f32))), ShapeError);
    CHECK_THROWS_AS(b.add(va, Value{}), Error);
    Builder other(ctx);
    CHECK_THROWS_WITH_AS(b.relu(other.input(a)), doctest::Contains("another Builder"), Error);
    const Value y = b.relu(va);
    CHECK_THROWS_AS(b.grad(y, {va}), ShapeError);  // not a [1] loss
    CHECK_THROWS_AS(Program(b, {{y, Tensor::empty(ctx, {3, 4}, DType::f32)}}), ShapeError);
    // A value no output needs is pruned: nothing is dispatched for it.
    b.scale(va, 2.0f);
    Tensor out = Tensor::empty(ctx, {4, 3}, DType::f32);
    Program p(b, {{y, out}});
    CHECK(p.dispatch_count() == 1);
    test::check_validation(ctx);
}

} // TEST_SUITE

namespace {

// A residual block as a user writes it: two Linear layers and a skip connection.
class Residual : public Module {
public:
    explicit Residual(int64_t d) : fc1_(d, d), fc2_(d, d) {}
    void register_parameters(ParameterSet& p, const std::string& prefix) override {
        fc1_.register_parameters(p, prefix + "fc1.");
        fc2_.register_parameters(p, prefix + "fc2.");
    }
    void init_parameters(ParameterSet& p, std::mt19937_64& rng) override {
        fc1_.init_parameters(p, rng);
        fc2_.init_parameters(p, rng);
    }
    Value forward(ModelBuilder& mb, Value x) override {
        Builder& b = mb.builder();
        return b.relu(b.add(fc2_.forward(mb, b.relu(fc1_.forward(mb, x))), x));
    }

private:
    Linear fc1_, fc2_;
};

// One Linear applied twice: one set of weights, two uses.
class Twice : public Module {
public:
    explicit Twice(int64_t d) : fc_(d, d) {}
    void register_parameters(ParameterSet& p, const std::string& prefix) override { fc_.register_parameters(p, prefix); }
    void init_parameters(ParameterSet& p, std::mt19937_64& rng) override { fc_.init_parameters(p, rng); }
    Value forward(ModelBuilder& mb, Value x) override {
        Builder& b = mb.builder();
        return b.relu(fc_.forward(mb, b.relu(fc_.forward(mb, x))));
    }

private:
    Linear fc_;
};

std::unique_ptr<Sequential> residual_model() {
    auto m = std::make_unique<Sequential>();
    m->emplace<Linear>(64, 32).emplace<ReLU>().emplace<Residual>(32).emplace<Twice>(32).emplace<Linear>(32, 10);
    return m;
}

} // namespace

TEST_SUITE("autograd") {

TEST_CASE("the Trainer trains a model with a residual block and a shared layer, in fp16 and fp32") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 1024, 64, 21);
    for (Precision p : {Precision::fp16, Precision::fp32}) {
        CAPTURE(int(p));
        auto model = residual_model();
        TrainerOptions o;
        o.batch = 64;
        o.precision = p;
        o.optimizer.lr = 1e-2f;
        Trainer tr(ctx, *model, data, o);
        CHECK(tr.parameters().infos().size() == 2 + 4 + 2 + 2);  // Twice registers one Linear
        const double before = tr.evaluate(data).mean_loss();
        test::train_epochs(tr, 3);
        const Metrics after = tr.evaluate(data);
        CHECK(after.mean_loss() < 0.5 * before);
        CHECK(after.accuracy() > 0.9);
        CHECK(tr.metrics().skipped <= 2);
    }
    test::check_validation(ctx);
}

TEST_CASE("a small ResNet (BasicBlocks with a projection shortcut, global average pooling) trains") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 1024, 64, 23);  // 8x8 images
    Conv2dParams same;
    same.pad_h = same.pad_w = 1;
    Sequential model;
    model.emplace<Unflatten>(Shape{1, 8, 8})
        .emplace<Conv2d>(1, 8, 3, same, false)
        .emplace<BatchNorm2d>(8)
        .emplace<ReLU>()
        .emplace<BasicBlock>(8, 8)
        .emplace<BasicBlock>(8, 16, 2)
        .emplace<GlobalAvgPool2d>()
        .emplace<Linear>(16, 10);
    TrainerOptions o;
    o.batch = 64;
    o.optimizer.lr = 1e-2f;
    Trainer tr(ctx, model, data, o);
    std::vector<std::string> names;
    for (const ParameterInfo& p : tr.parameters().infos()) names.push_back(p.name);
    for (const char* want : {"1.weight", "2.weight", "4.conv1.weight", "4.bn2.bias", "5.downsample.0.weight",
                             "5.downsample.1.weight", "7.bias"})
        CHECK(std::find(names.begin(), names.end(), want) != names.end());
    CHECK(std::find(names.begin(), names.end(), "1.bias") == names.end());  // no bias before a BatchNorm
    std::vector<std::string> state;
    for (const auto& [name, t] : tr.state_tensors()) state.push_back(name);
    CHECK(std::find(state.begin(), state.end(), "5.downsample.1.running_var") != state.end());
    const double before = tr.evaluate(data).mean_loss();
    test::train_epochs(tr, 3);
    const Metrics after = tr.evaluate(data);  // running statistics: the evaluation graph
    CHECK(after.mean_loss() < 0.5 * before);
    CHECK(after.accuracy() > 0.8);
    test::check_validation(ctx);
}

TEST_CASE("frozen parameters stay bitwise unchanged while the rest trains") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 22);
    for (Precision p : {Precision::fp16, Precision::fp32}) {
        CAPTURE(int(p));
        auto model = residual_model();
        TrainerOptions o;
        o.batch = 64;
        o.precision = p;
        o.optimizer.lr = 1e-2f;
        o.optimizer.weight_decay = 0.1f;  // a decay would move a frozen weight too, if it ran on it
        o.freeze = {"0.", "2.fc1."};
        Trainer tr(ctx, *model, data, o);
        ParameterSet& ps = tr.parameters();
        auto snapshot = [&](bool frozen) {
            std::vector<std::vector<uint16_t>> work;
            std::vector<std::vector<float>> master;
            for (int id = 0; id < int(ps.infos().size()); ++id) {
                if (ps.infos()[std::size_t(id)].requires_grad == frozen) continue;
                master.push_back(ps.get_master(id));
                if (p == Precision::fp16) work.push_back(ps.work(id).to_f16_bits());
            }
            return std::make_pair(master, work);
        };
        CHECK(ps.trainable_size() < ps.size());
        const auto frozen0 = snapshot(true), trained0 = snapshot(false);
        CHECK(frozen0.first.size() == 4);
        const double before = tr.evaluate(data).mean_loss();
        test::train_epochs(tr, 3);
        CHECK(snapshot(true) == frozen0);
        CHECK(snapshot(false).first != trained0.first);
        CHECK(tr.evaluate(data).mean_loss() < 0.75 * before);  // the unfrozen layers learn
    }
    auto model = residual_model();
    TrainerOptions o;
    o.batch = 64;
    o.freeze = {"9."};
    CHECK_THROWS_WITH_AS(Trainer(ctx, *model, data, o), doctest::Contains("'9.'"), Error);
    o.freeze = {""};  // everything
    CHECK_THROWS_WITH_AS(Trainer(ctx, *model, data, o), doctest::Contains("no trainable parameter"), Error);
    test::check_validation(ctx);
}

} // TEST_SUITE

TEST_SUITE("autograd") {

TEST_CASE("parameter groups: without decay_vectors, biases skip AdamW's weight decay and weights keep it") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 256, 64, 24);
    for (bool decay_vectors : {true, false}) {
        CAPTURE(decay_vectors);
        Sequential model;
        model.emplace<Linear>(64, 16).emplace<ReLU>().emplace<Linear>(16, 10);
        TrainerOptions o;
        o.batch = 64;
        o.precision = Precision::fp32;
        o.optimizer.lr = 1e-2f;
        o.optimizer.weight_decay = 0.5f;
        o.decay_vectors = decay_vectors;
        Trainer tr(ctx, model, data, o);
        ParameterSet& ps = tr.parameters();
        std::vector<std::vector<float>> before;
        for (int id = 0; id < int(ps.infos().size()); ++id) before.push_back(ps.get_master(id));
        tr.step();  // one AdamW step: moment1 = (1 - beta1) g
        tr.wait();
        for (int id = 0; id < int(ps.infos().size()); ++id) {
            const ParameterInfo& info = ps.infos()[std::size_t(id)];
            CAPTURE(info.name);
            const bool decays = decay_vectors || info.shape.size() > 1;
            CHECK(info.weight_decay == decays);
            const auto m1 = ps.moment1(id).to_floats();
            std::vector<double> p(before[std::size_t(id)].begin(), before[std::size_t(id)].end()), m(p.size(), 0.0),
                v(p.size(), 0.0), g(p.size());
            for (std::size_t i = 0; i < g.size(); ++i) g[i] = double(m1[i]) / (1.0 - 0.9);
            ref::OptimizerRef r;
            r.kind = 2;
            r.lr = 1e-2;
            r.weight_decay = decays ? 0.5 : 0.0;
            ref::optimizer_step(r, 1, p, m, v, g);
            const auto got = ps.get_master(id);
            double worst = 0;
            for (std::size_t i = 0; i < p.size(); ++i) worst = std::max(worst, std::fabs(got[i] - p[i]));
            CHECK(worst < 2e-6);
        }
    }
    test::check_validation(ctx);
}

} // TEST_SUITE

TEST_SUITE("autograd") {

TEST_CASE("a model larger than one storage buffer trains: its parameters split into chunks") {
    auto& ctx = test::small_device();  // maxStorageBufferRange 1 MiB: 262,144 fp32 elements
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 25);
    auto make = [] {
        auto m = std::make_unique<Sequential>();
        m->emplace<Linear>(64, 2048).emplace<ReLU>().emplace<Linear>(2048, 100).emplace<ReLU>().emplace<Linear>(100, 10);
        return m;
    };
    for (bool frozen : {false, true}) {
        CAPTURE(frozen);
        auto model = make();
        TrainerOptions o;
        o.batch = 64;
        o.optimizer.lr = 1e-3f;
        o.decay_vectors = false;
        if (frozen) o.freeze = {"2."};
        Trainer tr(ctx, *model, data, o);
        const ParameterSet& ps = tr.parameters();
        int64_t params = 0;
        for (const ParameterInfo& p : ps.infos()) params += numel(p.shape);
        CHECK(params * 4 > 1024 * 1024);  // over 1 MiB of fp32 master weights
        CHECK(ps.chunks().size() >= 2);
        for (const ParameterChunk& c : ps.chunks()) CHECK(c.master.bytes() <= 1024 * 1024);
        const auto frozen_before = ps.get_master(2);
        const double before = tr.evaluate(data).mean_loss();
        test::train_epochs(tr, 3);
        const double after = tr.evaluate(data).mean_loss();
        CHECK(after < (frozen ? 0.75 : 0.5) * before);  // a frozen random middle layer learns slower
        CHECK((ps.get_master(2) == frozen_before) == frozen);
    }
    Sequential huge;
    huge.emplace<Linear>(64, 8192);  // 524,288 weights: more than one buffer holds
    TrainerOptions o;
    o.batch = 64;
    CHECK_THROWS_WITH_AS(Trainer(ctx, huge, data, o), doctest::Contains("'0.weight'"), LimitError);
    test::check_validation(ctx);
}

TEST_CASE("gradient clipping over chunks and groups clips by the global norm") {
    // fp32 on both devices: one chunk on the full device, two on the 1 MiB-range one; a tight clip
    // makes every step depend on the global norm, so a norm over one chunk would diverge at once.
    std::vector<std::vector<float>> weights;
    for (vkhalf::Context* ctx : {&test::full_device(), &test::small_device()}) {
        const DeviceDataset data = test::synthetic(*ctx, 256, 64, 26);
        Sequential model;
        model.emplace<Linear>(64, 2048).emplace<ReLU>().emplace<Linear>(2048, 100).emplace<ReLU>().emplace<Linear>(100, 10);
        TrainerOptions o;
        o.batch = 64;
        o.precision = Precision::fp32;
        o.optimizer.kind = OptimizerKind::sgd;
        o.optimizer.lr = 0.05f;
        o.optimizer.clip_norm = 0.01f;
        o.decay_vectors = false;
        Trainer tr(*ctx, model, data, o);
        CHECK(tr.parameters().chunks().size() == (ctx == &test::small_device() ? 2u : 1u));
        test::train_epochs(tr, 1);
        std::vector<float> all;
        for (int id = 0; id < int(tr.parameters().infos().size()); ++id) {
            const auto v = tr.parameters().get_master(id);
            all.insert(all.end(), v.begin(), v.end());
        }
        weights.push_back(all);
        test::check_validation(*ctx);
    }
    REQUIRE(weights[0].size() == weights[1].size());
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < weights[0].size(); ++i) {
        worst = std::max(worst, double(std::fabs(weights[0][i] - weights[1][i])));
        scale = std::max(scale, double(std::fabs(weights[0][i])));
    }
    CHECK(worst <= 1e-5 * scale);
}

} // TEST_SUITE

TEST_SUITE("autograd") {

TEST_CASE("a Trainer over a token stream: windows drawn on the device, per-position cross-entropy, a bigram learnt") {
    // t[i+1] = (t[i] + 3) mod 7: the next token follows from the current one, so an embedding and a
    // linear head (a bigram model) can predict every position.
    auto& ctx = test::full_device();
    auto stream_of = [](int64_t n, uint32_t first) {
        std::vector<uint32_t> s(static_cast<std::size_t>(n));
        for (int64_t i = 0; i < n; ++i) s[std::size_t(i)] = (first + 3u * uint32_t(i)) % 7u;
        return s;
    };
    const DeviceDataset train = DeviceDataset::token_stream(ctx, stream_of(4096, 0), 7, 16);
    const DeviceDataset val = DeviceDataset::token_stream(ctx, stream_of(1024, 5), 7, 16);
    CHECK(train.count == 256);
    for (Precision prec : {Precision::fp32, Precision::fp16}) {
        CAPTURE(int(prec));
        Sequential model;
        model.emplace<Embedding>(7, 16).emplace<Linear>(16, 7);
        TrainerOptions o;
        o.batch = 32;
        o.precision = prec;
        o.optimizer.lr = 1e-2f;
        Trainer tr(ctx, model, train, o);
        const Metrics before = tr.evaluate(val);
        CHECK(before.seen == uint64_t(64 / 32) * 32 * 16);  // 64 windows of 16 positions
        CHECK(before.mean_loss() > 1.0);
        test::train_epochs(tr, 10);
        const Metrics after = tr.evaluate(val);
        MESSAGE("token stream: validation loss " << before.mean_loss() << " -> " << after.mean_loss()
                                                 << " nats/token, accuracy " << after.accuracy());
        CHECK(after.mean_loss() < 0.1);
        CHECK(after.accuracy() == 1.0);
        const Metrics again = tr.evaluate(val);  // the same validation windows every time
        CHECK(again.loss_sum == after.loss_sum);
    }
    // A model whose output is not [batch, block, vocab] is refused, naming the shape it expected.
    Sequential wrong;
    wrong.emplace<Embedding>(7, 16).emplace<Flatten>().emplace<Linear>(256, 7);
    TrainerOptions o;
    o.batch = 8;
    CHECK_THROWS_WITH_AS(Trainer(ctx, wrong, train, o), doctest::Contains("[8, 16, 7]"), ShapeError);
    o.augment = {.shift = 1, .flip = false, .rows = 4, .cols = 4};
    Sequential ok;
    ok.emplace<Embedding>(7, 4).emplace<Linear>(4, 7);
    CHECK_THROWS_WITH_AS(Trainer(ctx, ok, train, o), doctest::Contains("token stream"), ShapeError);
    std::vector<uint32_t> bad = stream_of(64, 0);
    bad[10] = 7;
    CHECK_THROWS_WITH_AS(DeviceDataset::token_stream(ctx, bad, 7, 16), doctest::Contains("token 7 at 10"), ShapeError);
    test::check_validation(ctx);
}

TEST_CASE("a small GPT (two blocks of causal attention and GELU MLPs, tied head) learns a token stream") {
    auto& ctx = test::full_device();
    std::vector<uint32_t> stream(4096), held(1024);
    for (std::size_t i = 0; i < stream.size(); ++i) stream[i] = uint32_t(3 * i) % 7u;
    for (std::size_t i = 0; i < held.size(); ++i) held[i] = uint32_t(5 + 3 * i) % 7u;
    const DeviceDataset train = DeviceDataset::token_stream(ctx, stream, 7, 16);
    const DeviceDataset val = DeviceDataset::token_stream(ctx, held, 7, 16);
    Sequential model;
    model.emplace<GPT>(GPTConfig{.vocab = 7, .block = 16, .layers = 2, .heads = 2, .embd = 16});
    TrainerOptions o;
    o.batch = 16;
    o.optimizer.lr = 3e-3f;
    o.decay_vectors = false;
    Trainer tr(ctx, model, train, o);
    // nanoGPT's names, the head tied (no parameter of its own).
    std::vector<std::string> names;
    for (const auto& p : tr.parameters().infos()) names.push_back(p.name);
    CHECK(names.front() == "0.transformer.wte.weight");
    CHECK(std::find(names.begin(), names.end(), "0.transformer.h.1.attn.c_attn.weight") != names.end());
    CHECK(std::find(names.begin(), names.end(), "0.transformer.h.0.mlp.c_proj.bias") != names.end());
    CHECK(names.back() == "0.transformer.ln_f.bias");
    const Metrics before = tr.evaluate(val);
    test::train_epochs(tr, 6);  // 96 steps
    const Metrics after = tr.evaluate(val);
    MESSAGE("GPT on a token stream: validation loss " << before.mean_loss() << " -> " << after.mean_loss()
                                                      << " nats/token, accuracy " << after.accuracy());
    CHECK(before.mean_loss() > 1.5);
    CHECK(after.mean_loss() < 0.2);
    CHECK(after.accuracy() > 0.99);
    CHECK(tr.training_state().skipped == 0);
    CHECK(has_step(tr.program().steps(), "cast"));  // fp16 layers, the fp32 residual stream (default)

    // The same model with its residual stream in fp16 too: no cast, and it learns as well.
    Sequential all16;
    all16.emplace<GPT>(GPTConfig{.vocab = 7, .block = 16, .layers = 2, .heads = 2, .embd = 16, .fp32_residual = false});
    Trainer tr16(ctx, all16, train, o);
    CHECK(!has_step(tr16.program().steps(), "cast"));
    test::train_epochs(tr16, 6);
    CHECK(tr16.evaluate(val).mean_loss() < 0.2);
    test::check_validation(ctx);
}

TEST_CASE("gradient accumulation: two micro-batches train like the whole batch, in less memory") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 27);
    std::vector<std::vector<float>> weights;
    std::vector<MemoryPlanStats> memory;
    // The last two runs augment (8 x 8 images shifted and mirrored): a micro-batch draws for its
    // rows of the whole batch, so four of them must still train like the whole batch.
    const std::pair<uint32_t, bool> runs[] = {{1u, false}, {2u, false}, {4u, false}, {1u, true}, {4u, true}};
    for (const auto& run : runs) {
        const uint32_t k = run.first;  // named copies: clang's lambdas (CAPTURE) cannot see structured bindings
        const bool augment = run.second;
        CAPTURE(k);
        CAPTURE(augment);
        Sequential model;
        model.emplace<Linear>(64, 256).emplace<ReLU>().emplace<Linear>(256, 10);
        TrainerOptions o;
        o.batch = 128;
        o.precision = Precision::fp32;
        o.micro_batches = k;
        if (augment) o.augment = {.shift = 2, .flip = true, .rows = 8, .cols = 8};
        Trainer tr(ctx, model, data, o);
        test::train_epochs(tr, 2);
        const Metrics m = tr.metrics();
        CHECK(m.seen == 2 * 512);  // every micro-batch counted once
        std::vector<float> all;
        for (int id = 0; id < int(tr.parameters().infos().size()); ++id) {
            const auto v = tr.parameters().get_master(id);
            all.insert(all.end(), v.begin(), v.end());
        }
        weights.push_back(all);
        memory.push_back(tr.program().memory());
    }
    auto worst_difference = [&](std::size_t a, std::size_t b) {
        double worst = 0, scale = 0;
        for (std::size_t i = 0; i < weights[a].size(); ++i) {
            worst = std::max(worst, double(std::fabs(weights[a][i] - weights[b][i])));
            scale = std::max(scale, double(std::fabs(weights[a][i])));
        }
        return worst / scale;
    };
    // Only the order of the fp32 sums differs.
    CHECK(worst_difference(0, 1) <= 1e-4);
    CHECK(worst_difference(0, 2) <= 1e-4);
    CHECK(worst_difference(3, 4) <= 1e-4);
    CHECK(worst_difference(0, 3) > 1e-2);  // augmentation changed what was learned
    CHECK(memory[1].planned_bytes < memory[0].planned_bytes);
    CHECK(memory[2].planned_bytes < memory[1].planned_bytes);
    MESSAGE("planned step memory, 1/2/4 micro-batches: " << memory[0].planned_bytes << " / " << memory[1].planned_bytes
                                                          << " / " << memory[2].planned_bytes << " B");
    Sequential model;
    model.emplace<Linear>(64, 10);
    TrainerOptions o;
    o.batch = 128;
    o.micro_batches = 3;
    CHECK_THROWS_AS(Trainer(ctx, model, data, o), ShapeError);
    test::check_validation(ctx);
}

} // TEST_SUITE
