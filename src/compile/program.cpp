// compile: a Builder's graph -> one recorded command list, replayed by run().
//
// Passes, in order:
//   1. prune: only nodes some output needs are kept;
//   2. storage classes: a reshape is a view of its operand's memory, a leaf is its own tensor;
//   3. fusion: a ReLU whose operand is a matmul or conv2d output read by nothing else moves into
//      that kernel's epilogue; a gradient sum add(p, m), m read only there and made by a matmul,
//      a bias gradient or a convolution's weight gradient, and p read only there, becomes that
//      kernel adding into p's memory (GEMM beta = 1, the others' accumulate mode), moved to the
//      add's place when p is written later (so no zero fill and no add pass); a normalisation
//      backward's dgamma or dbeta adds likewise when p is written before it (it cannot move);
//      a cast to f32 of an fp16 matmul's output read by nothing else becomes that matmul storing
//      f32 (its accumulator, never rounded to fp16: an fp32 residual stream's branch output costs
//      no pass of its own);
//   4. outputs: a bound value's class is computed straight into the bound tensor (a copy only
//      where that class already has a tensor: a leaf, or another binding; or where the bound
//      tensor is a leaf the program reads: computed aside, copied over it last);
//   5. memory plan: each remaining class lives from its first write to its last read; one offline
//      plan (compile/memory_plan.cpp) places them all in arenas;
//   6. lowering: each step's op records its kernel; the CommandList places the barriers.
#include <algorithm>
#include <limits>
#include <numeric>

#include "compile/memory_plan.hpp"
#include "compile/program_access.hpp"
#include "ir/ir.hpp"
#include "ir/ops.hpp"
#include "runtime/command_list.hpp"
#include "runtime/context_impl.hpp"
#include "runtime/memory.hpp"
#include "runtime/tensor_range.hpp"
#include "vkhalf/autograd.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

using detail::GraphIR;
using detail::Node;
using detail::OpKind;

struct Program::Impl {
    Context& ctx;
    std::shared_ptr<GraphIR> ir;  // the leaves' tensors stay alive with it
    std::unique_ptr<detail::CommandList> cl;
    std::vector<Tensor> arenas, kept;
    std::vector<std::string> labels;
    MemoryPlanStats stats;
    Impl(Context& c, std::shared_ptr<GraphIR> g, const CompileOptions& o)
        : ctx(c), ir(std::move(g)), cl(std::make_unique<detail::CommandList>(c.impl(), o.profile, o.submit_per_op)) {}
};

namespace {

// A loss fused with a training state: it adds its metrics to the state and holds no number.
bool counts_into_state(const detail::Node& n) {
    return n.kind == detail::OpKind::softmax_xent || (n.kind == detail::OpKind::mse_loss && n.attrs.state.defined());
}

// The same device memory (state tensors the kernels read and write: views compare by offset).
bool same_memory(const Tensor& a, const Tensor& b) {
    return &a.allocation() == &b.allocation() && a.byte_offset() == b.byte_offset();
}

// Whether two tensors share any byte. Sub-allocation puts many tensors in one VkBuffer, so this
// compares byte ranges within the buffer, not handles.
bool overlaps(const Tensor& a, const Tensor& b) {
    if (a.allocation().buffer() != b.allocation().buffer()) return false;
    const uint64_t a0 = a.allocation().offset + a.byte_offset(), b0 = b.allocation().offset + b.byte_offset();
    return a0 < b0 + b.bytes() && b0 < a0 + a.bytes();
}

struct Step {
    int node = -1;
    std::vector<int> inputs;
    int output = -1;
    std::vector<int> aux;
    bool relu = false;
    float beta = 0.0f;
    bool advance_rng = false;
    int64_t position = 0;  // steps run in this order
    bool removed = false;
    int copy_to = -1;  // a copy of inputs[0] into binding copy_to
    bool store_f32 = false;  // a matmul writing its output in f32: a cast to f32 folded in
    uint32_t aux_accumulate = 0;  // bit k: aux[k] adds into its memory (a normalisation's dgamma, dbeta)
};

struct Classes {
    std::vector<int> parent;
    std::vector<bool> plain;   // only in-place gradient sums joined it (no views, no leaf)
    std::vector<Tensor> storage;  // external: a leaf's or a binding's tensor

    explicit Classes(std::size_t n) : parent(n), plain(n, true), storage(n) {
        std::iota(parent.begin(), parent.end(), 0);
    }
    int find(int v) {
        while (parent[std::size_t(v)] != v) v = parent[std::size_t(v)] = parent[std::size_t(parent[std::size_t(v)])];
        return v;
    }
    void join(int member, int into, bool view) {
        const int r = find(into);
        parent[std::size_t(find(member))] = r;
        if (view) plain[std::size_t(r)] = false;
    }
};

uint64_t value_bytes(const detail::ValueInfo& v) { return uint64_t(numel(v.shape)) * dtype_size(v.dtype); }

} // namespace

Program::Program(Builder& builder, std::vector<Binding> outputs, CompileOptions options)
    : Program(builder, std::move(outputs), options, nullptr) {}

Program::Program(Builder& builder, std::vector<Binding> outputs, CompileOptions options,
                 const detail::ProgramHooks* hooks)
    : impl_(std::make_unique<Impl>(builder.context(), builder.ir_, options)) {
    GraphIR& ir = *impl_->ir;
    Context& ctx = impl_->ctx;
    const std::size_t count = ir.values.size();

    // Outputs must be values of this graph with tensors that fit them.
    std::vector<bool> needed(count, false), bound(count, false);
    for (const Binding& b : outputs) {
        if (b.value.ir_ != &ir) throw Error("Program: an output Value from another Builder (or undefined)");
        const detail::ValueInfo& v = ir.value(b.value.id());
        const OpKind k = ir.producer(b.value.id()).kind;
        if (k == OpKind::constant)
            throw Error("Program: output %" + std::to_string(b.value.id()) + " is a host constant");
        needed[std::size_t(b.value.id())] = true;
        if (!b.tensor.defined()) continue;  // run for its side effects
        if (counts_into_state(ir.producer(b.value.id())))
            throw Error(std::string("Program: ") + (k == OpKind::softmax_xent ? "softmax_cross_entropy" : "mse_loss") +
                        " %" + std::to_string(b.value.id()) +
                        " with a training state holds no number (its metrics go to the state); bind it without a "
                        "tensor");
        if (b.tensor.shape() != v.shape || b.tensor.dtype() != v.dtype)
            throw ShapeError("Program: output %" + std::to_string(b.value.id()) + " is " + to_string(v.shape) + " " +
                             std::string(to_string(v.dtype)) + ", bound to a tensor " + to_string(b.tensor.shape()) +
                             " " + std::string(to_string(b.tensor.dtype())));
        bound[std::size_t(b.value.id())] = true;
    }
    // 1. prune. A node is needed when any of its outputs is; all its outputs are then written.
    for (std::size_t i = ir.nodes.size(); i-- > 0;) {
        Node& n = ir.nodes[i];
        bool any = needed[std::size_t(n.output)];
        for (int a : n.aux) any = any || needed[std::size_t(a)];
        if (!any) continue;
        needed[std::size_t(n.output)] = true;
        for (int a : n.aux) needed[std::size_t(a)] = true;
        for (int in : n.inputs) needed[std::size_t(in)] = true;
    }
    // The gradient kernel of a loss with a training state (softmax cross-entropy, MSE) adds the
    // loss metrics to the state too: where the loss and its gradient both run, the loss node
    // records nothing, so a step that binds both (the loss for its metrics) counts each row once.
    for (const Node& g : ir.nodes) {
        if ((g.kind != OpKind::softmax_xent_grad && g.kind != OpKind::mse_loss_grad) || !g.attrs.state.defined() ||
            !needed[std::size_t(g.output)])
            continue;
        const OpKind forward = g.kind == OpKind::softmax_xent_grad ? OpKind::softmax_xent : OpKind::mse_loss;
        for (const Node& f : ir.nodes)
            if (f.kind == forward && counts_into_state(f) && needed[std::size_t(f.output)] &&
                f.inputs[0] == g.inputs[0] && f.inputs[1] == g.inputs[1] && same_memory(f.attrs.state, g.attrs.state))
                needed[std::size_t(f.output)] = false;
    }

    // 2. storage classes, steps, uses.
    Classes cls(count);
    std::vector<Step> steps;
    std::vector<int> step_of(count, -1);
    std::vector<int> uses(count, 0);
    for (std::size_t i = 0; i < ir.nodes.size(); ++i) {
        const Node& n = ir.nodes[i];
        if (!needed[std::size_t(n.output)]) continue;
        for (int in : n.inputs) ++uses[std::size_t(in)];
        if (n.kind == OpKind::leaf) {
            cls.storage[std::size_t(n.output)] = ir.value(n.output).tensor;
            cls.plain[std::size_t(n.output)] = false;
            continue;
        }
        if (n.kind == OpKind::constant) continue;
        if (n.kind == OpKind::reshape) {
            cls.join(n.output, n.inputs[0], true);
            continue;
        }
        for (std::size_t k = 0; k < n.inputs.size(); ++k)
            if (ir.producer(n.inputs[k]).kind == OpKind::constant &&
                !((n.kind == OpKind::mse_loss_grad || n.kind == OpKind::softmax_xent_grad) && k == 2))
                throw UnsupportedError(std::string("Program: ") + detail::op_def(n.kind).name + " %" +
                                       std::to_string(n.output) +
                                       " reads the loss's seed as a tensor; scale or add the losses instead");
        step_of[std::size_t(n.output)] = int(steps.size());
        Step st;
        st.node = int(i);
        st.inputs = n.inputs;
        st.output = n.output;
        st.aux = n.aux;
        st.position = int64_t(i);
        steps.push_back(std::move(st));
    }
    for (const Binding& b : outputs) ++uses[std::size_t(b.value.id())];

    // A dropout's mask is drawn again by its backward from the same state: the backward moves the
    // state on; a forward whose backward is not compiled does it itself.
    for (Step& st : steps) {
        const Node& n = ir.nodes[std::size_t(st.node)];
        if (n.kind == OpKind::dropout_backward) st.advance_rng = true;
        if (n.kind != OpKind::dropout) continue;
        bool backward = false;
        for (const Step& other : steps)
            backward = backward || (ir.nodes[std::size_t(other.node)].kind == OpKind::dropout_backward &&
                                    ir.nodes[std::size_t(other.node)].attrs.source == n.output);
        st.advance_rng = !backward;
    }

    // The step that writes v, as its output or as its further output *aux_k (-1: none).
    auto writer_of = [&](int v, int* aux_k) {
        if (aux_k) *aux_k = -1;
        if (step_of[std::size_t(v)] >= 0) return step_of[std::size_t(v)];
        for (std::size_t j = 0; j < steps.size(); ++j)
            for (std::size_t a = 0; a < steps[j].aux.size(); ++a)
                if (steps[j].aux[a] == v) {
                    if (aux_k) *aux_k = int(a);
                    return int(j);
                }
        return -1;
    };

    // 3. fusion.
    if (options.fuse) {
        for (Step& s : steps) {
            const OpKind k = ir.nodes[std::size_t(s.node)].kind;
            if (k == OpKind::relu) {
                const int x = s.inputs[0];
                const int ps = step_of[std::size_t(x)];
                if (ps < 0 || uses[std::size_t(x)] != 1 || bound[std::size_t(x)]) continue;
                Step& p = steps[std::size_t(ps)];
                const OpKind pk = ir.nodes[std::size_t(p.node)].kind;
                if ((pk != OpKind::matmul && pk != OpKind::conv2d) || p.relu || p.beta != 0.0f || p.store_f32) continue;
                p.relu = true;
                p.output = s.output;
                step_of[std::size_t(s.output)] = ps;
                s.removed = true;
            } else if (k == OpKind::cast) {
                // Through one view: Linear over [..., in] reshapes around its GEMM.
                const int x = s.inputs[0];
                const Node& xp = ir.producer(x);
                const int m = xp.kind == OpKind::reshape && uses[std::size_t(x)] == 1 && !bound[std::size_t(x)]
                                  ? xp.inputs[0]
                                  : x;
                const int ps = step_of[std::size_t(m)];
                if (ps < 0 || uses[std::size_t(m)] != 1 || bound[std::size_t(m)] ||
                    ir.value(s.output).dtype != DType::f32)
                    continue;
                Step& p = steps[std::size_t(ps)];
                if (ir.nodes[std::size_t(p.node)].kind != OpKind::matmul || p.beta != 0.0f || p.store_f32) continue;
                // The GEMM stores m's elements as f32 into the cast's memory (which m and its view join).
                p.store_f32 = true;
                cls.join(m, s.output, true);
                step_of[std::size_t(s.output)] = ps;
                s.removed = true;
            } else if (k == OpKind::add) {  // a gradient sum (grad's, or the micro-batches')
                for (int mi : {1, 0}) {
                    const int m = s.inputs[std::size_t(mi)], p = s.inputs[std::size_t(1 - mi)];
                    if (m == p || uses[std::size_t(m)] != 1 || bound[std::size_t(m)]) continue;
                    // m is a step's output, or one of its further outputs (aux_k).
                    int aux_k = -1;
                    const int ms = writer_of(m, &aux_k);
                    if (ms < 0) continue;
                    Step& mm = steps[std::size_t(ms)];
                    const OpKind pk = ir.producer(p).kind;
                    const int pr = cls.find(p);
                    if (pk == OpKind::leaf || pk == OpKind::constant || pk == OpKind::reshape ||
                        uses[std::size_t(p)] != 1 || bound[std::size_t(p)] || !cls.plain[std::size_t(pr)] ||
                        cls.storage[std::size_t(pr)].defined())
                        continue;
                    const int p_step = writer_of(p, nullptr);
                    const bool p_first = p_step >= 0 && steps[std::size_t(p_step)].position < mm.position;
                    const OpKind mk = ir.nodes[std::size_t(mm.node)].kind;
                    if (aux_k >= 0) {
                        // A normalisation backward's dgamma or dbeta: its kernel adds into p's memory.
                        // It cannot move (its dx is read right after it), so p must be written first.
                        if ((mk != OpKind::batch_norm2d_backward && mk != OpKind::layer_norm_backward) || aux_k > 1 ||
                            (mm.aux_accumulate & (1u << aux_k)) || !p_first)
                            continue;
                        mm.aux_accumulate |= 1u << aux_k;
                    } else {
                        // Producers that can add into their output: a GEMM without bias, a bias
                        // gradient, a convolution's weight gradient.
                        const bool accumulates = (mk == OpKind::matmul && mm.inputs.size() == 2) ||
                                                 mk == OpKind::bias_grad || mk == OpKind::conv2d_backward_weight;
                        if (!accumulates || mm.relu || mm.beta != 0.0f || mm.store_f32 || !mm.aux.empty()) continue;
                        mm.beta = 1.0f;
                        // It must run after p is written. Where it already does (micro-batches: p is
                        // the earlier sum) it stays, so what it reads is freed as soon as before.
                        if (!p_first) mm.position = s.position;
                    }
                    cls.join(m, p, false);
                    cls.join(s.output, p, false);
                    step_of[std::size_t(s.output)] = ms;
                    s.removed = true;
                    break;
                }
            }
        }
    }

    // 4. outputs. A bound tensor is written where nothing else the program reads or writes lives:
    //   - the value's class already lives in exactly that memory (a leaf bound to its own tensor,
    //     a reshape of it, the same binding twice): nothing to record;
    //   - it lives in other memory (a leaf, an earlier binding): a copy after every compute step;
    //   - the bound tensor holds a leaf the program reads (an in-place update, w <- f(w)): the class
    //     is computed into planned memory and copied over the leaf last, after every read of it;
    //   - a bound tensor partly overlapping its source or another binding: refused, since no order
    //     of writes gives both values (and a copy between overlapping ranges is undefined).
    std::vector<Tensor> leaves;  // external memory the steps read
    for (std::size_t r = 0; r < count; ++r)
        if (cls.storage[r].defined()) leaves.push_back(cls.storage[r]);
    std::vector<Tensor> targets;
    std::vector<int> target_class;
    const auto tail = std::numeric_limits<int64_t>::max() - 2 * int64_t(outputs.size());
    for (const Binding& b : outputs) {
        if (!b.tensor.defined()) continue;
        const int r = cls.find(b.value.id());
        const std::string what = "Program: the tensor bound to %" + std::to_string(b.value.id());
        bool again = false;  // this class bound to this very memory before
        for (std::size_t k = 0; k < targets.size(); ++k) {
            if (!overlaps(b.tensor, targets[k])) continue;
            if (target_class[k] == r && same_memory(b.tensor, targets[k])) again = true;
            else
                throw Error(what + " overlaps the tensor bound to another output; bind each output its own memory");
        }
        const Tensor& own = cls.storage[std::size_t(r)];
        if (again || (own.defined() && same_memory(own, b.tensor))) continue;
        if (own.defined() && overlaps(own, b.tensor))
            throw Error(what + " partly overlaps the memory that value already lives in (a view of its own tensor "
                               "at another offset); bind a tensor of its own");
        const bool over_leaf = std::any_of(leaves.begin(), leaves.end(), [&](const Tensor& l) { return overlaps(l, b.tensor); });
        if (own.defined() || over_leaf) {
            Step c;
            c.inputs = {b.value.id()};
            c.copy_to = int(targets.size());
            // Copies out of leaves and bindings first, then the copies that overwrite leaves.
            c.position = tail + (over_leaf ? int64_t(outputs.size()) : 0) + int64_t(targets.size());
            steps.push_back(c);
        } else {
            cls.storage[std::size_t(r)] = b.tensor;
        }
        targets.push_back(b.tensor);
        target_class.push_back(r);
    }
    // A copy must not read memory an earlier copy wrote (two leaves bound to each other's tensors:
    // a swap, which the copies in any order get wrong).
    for (const Step& a : steps)
        for (const Step& c : steps) {
            if (a.copy_to < 0 || c.copy_to < 0 || a.position >= c.position) continue;
            const Tensor& src = cls.storage[std::size_t(cls.find(c.inputs[0]))];
            if (src.defined() && overlaps(src, targets[std::size_t(a.copy_to)]))
                throw Error("Program: output %" + std::to_string(c.inputs[0]) + " lives in the tensor bound to %" +
                            std::to_string(a.inputs[0]) + ", which is written first; bind %" +
                            std::to_string(c.inputs[0]) + " to a tensor of its own");
        }
    std::erase_if(steps, [](const Step& s) { return s.removed; });
    std::stable_sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) { return a.position < b.position; });

    // A training batch_norm2d saves its batch's statistics in its BatchNormStats for its backward.
    // Another training forward with the same statistics in between (one BatchNorm2d applied to two
    // inputs in one graph) would hand that backward the wrong ones: refused. (Micro-batches run each
    // forward's backward before the next forward.)
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (steps[i].node < 0) continue;
        const Node& back = ir.nodes[std::size_t(steps[i].node)];
        if (back.kind != OpKind::batch_norm2d_backward) continue;
        const Tensor& saved = back.attrs.bn_stats.data;
        for (std::size_t j = i; j-- > 0;) {
            if (steps[j].node < 0) continue;
            const Node& f = ir.nodes[std::size_t(steps[j].node)];
            if (f.kind != OpKind::batch_norm2d || !f.attrs.training || !same_memory(f.attrs.bn_stats.data, saved))
                continue;
            if (f.inputs[0] != back.inputs[1])
                throw UnsupportedError("Program: batch_norm2d %" + std::to_string(f.output) +
                                       " overwrites the batch statistics another use of the same BatchNormStats "
                                       "saved for its backward (one BatchNorm2d applied to two inputs in one "
                                       "graph); give each use its own statistics");
            break;
        }
    }

    // Lifetimes of the classes without a tensor of their own.
    std::vector<int64_t> first(count, -1), last(count, -1);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& s = steps[i];
        for (int in : s.inputs) {
            if (ir.producer(in).kind == OpKind::constant) continue;
            last[std::size_t(cls.find(in))] = int64_t(i);
        }
        if (s.output < 0) continue;
        for (int o : s.aux) {
            const auto r = std::size_t(cls.find(o));
            if (first[r] < 0) first[r] = int64_t(i);
            last[r] = std::max(last[r], int64_t(i));
        }
        const auto r = std::size_t(cls.find(s.output));
        if (first[r] < 0) first[r] = int64_t(i);
        last[r] = std::max(last[r], int64_t(i));
    }
    std::vector<int> planned;
    std::vector<detail::Lifetime> lifetimes;
    for (std::size_t r = 0; r < count; ++r) {
        if (first[r] < 0 || cls.find(int(r)) != int(r) || cls.storage[r].defined()) continue;
        planned.push_back(int(r));
        lifetimes.push_back({first[r], last[r], value_bytes(ir.value(int(r)))});
    }

    // Lowering, used twice. Each value's tensor comes from `storage` (a class's memory).
    auto scratch = [this](Shape s, DType d) {
        impl_->kept.push_back(Tensor::empty(impl_->ctx, std::move(s), d));
        return impl_->kept.back();
    };
    auto lower = [&](detail::CommandList& cl, const Step& s, const auto& tensor_of) {
        const Node& n = ir.nodes[std::size_t(s.node)];
        std::vector<Tensor> in;
        for (int v : s.inputs)
            if (ir.producer(v).kind != OpKind::constant) in.push_back(tensor_of(v));
        Tensor out = tensor_of(s.output, s.store_f32);
        std::vector<Tensor> aux;
        for (int a : s.aux) aux.push_back(tensor_of(a));
        const detail::LowerArgs args{cl, ctx, ir, n, in, out, aux, s.relu, s.beta, s.advance_rng, scratch, {},
                                     s.aux_accumulate};
        detail::op_def(n.kind).lower(args);
    };

    // 5. Workspaces: a first recording, never submitted, learns the scratch every op asks for
    // (im2col columns, split-K partials: sizes in order). Its values all alias one buffer as large
    // as the largest of them, so the probe costs no more memory than the workspaces themselves.
    std::vector<std::vector<std::pair<Shape, DType>>> requests(steps.size());
    {
        uint64_t largest = 4;
        for (const detail::Lifetime& l : lifetimes) largest = std::max(largest, l.bytes);
        const Tensor stand_in = Tensor::empty(ctx, {int64_t((largest + 3) / 4)}, DType::u32);
        detail::CommandList probe(ctx.impl());
        std::vector<Tensor> temporary;
        std::size_t current = 0;
        probe.set_workspace_provider([&](Shape shape, DType d) {
            requests[current].emplace_back(shape, d);
            temporary.push_back(Tensor::empty(ctx, std::move(shape), d));
            return temporary.back();
        });
        auto probe_tensor = [&](int v, bool as_f32 = false) {
            const detail::ValueInfo& info = ir.value(v);
            const Tensor& own = cls.storage[std::size_t(cls.find(v))];
            return (own.defined() ? own : stand_in).reinterpret(info.shape, as_f32 ? DType::f32 : info.dtype);
        };
        for (current = 0; current < steps.size(); ++current)
            if (steps[current].copy_to < 0) lower(probe, steps[current], probe_tensor);
    }
    std::vector<std::pair<std::size_t, std::size_t>> workspace_of;  // (step, request) per lifetime past the values
    for (std::size_t i = 0; i < steps.size(); ++i)
        for (std::size_t k = 0; k < requests[i].size(); ++k) {
            const auto& [shape, d] = requests[i][k];
            lifetimes.push_back({int64_t(i), int64_t(i), uint64_t(numel(shape)) * dtype_size(d)});
            workspace_of.emplace_back(i, k);
        }

    // 6. The memory plan: values and workspaces together.
    const DeviceCaps& caps = ctx.caps();
    const uint64_t align = std::max<uint64_t>(caps.min_storage_offset_alignment, 64);
    const uint64_t cap = std::max<uint64_t>(caps.max_storage_buffer_range / align * align, align);
    const detail::MemoryPlan plan = detail::plan_memory(lifetimes, align, cap, options.reuse_memory);
    for (uint64_t bytes : plan.arena_bytes)
        impl_->arenas.push_back(Tensor::empty(ctx, {int64_t(bytes / 4)}, DType::u32));
    auto placed = [&](std::size_t i) {
        const detail::Placement& at = plan.at[i];
        return impl_->arenas[std::size_t(at.arena)].view(int64_t(at.offset / 4), {int64_t((lifetimes[i].bytes + 3) / 4)});
    };
    for (std::size_t i = 0; i < planned.size(); ++i) cls.storage[std::size_t(planned[i])] = placed(i);
    std::vector<std::vector<Tensor>> workspaces(steps.size());
    for (std::size_t w = 0; w < workspace_of.size(); ++w) {
        const auto [step, k] = workspace_of[w];
        const auto& [shape, d] = requests[step][k];
        workspaces[step].push_back(placed(planned.size() + w).reinterpret(shape, d));
    }
    for (const detail::Lifetime& l : lifetimes) impl_->stats.unplanned_bytes += (l.bytes + align - 1) / align * align;
    impl_->stats.planned_bytes = plan.total();
    impl_->stats.values = planned.size();
    impl_->stats.workspaces = workspace_of.size();
    impl_->stats.arenas = plan.arena_bytes.size();

    // 7. Lowering for real: each op gets its planned workspaces, in the order it asks for them.
    auto tensor_of = [&](int v, bool as_f32 = false) {
        const detail::ValueInfo& info = ir.value(v);
        return cls.storage[std::size_t(cls.find(v))].reinterpret(info.shape, as_f32 ? DType::f32 : info.dtype);
    };
    for (const Tensor& t : targets) impl_->kept.push_back(t);
    detail::CommandList& cl = *impl_->cl;
    if (hooks && hooks->before) hooks->before(cl);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& s = steps[i];
        if (s.copy_to >= 0) {
            const Tensor src = tensor_of(s.inputs[0]);
            const Tensor& dst = targets[std::size_t(s.copy_to)];
            cl.copy(detail::range_of(src), detail::range_of(dst), src.bytes());
            impl_->labels.push_back("copy %" + std::to_string(s.inputs[0]));
            continue;
        }
        std::size_t next = 0;
        cl.set_workspace_provider([&, i](Shape shape, DType d) {
            if (next >= workspaces[i].size() || workspaces[i][next].shape() != shape || workspaces[i][next].dtype() != d)
                throw Error("internal: step " + std::to_string(i) + " asked for workspaces the first recording did not");
            return workspaces[i][next++];
        });
        lower(cl, s, tensor_of);
        const Node& n = ir.nodes[std::size_t(s.node)];
        std::string label = detail::op_def(n.kind).name;
        if (n.inputs.size() == 3 && (n.kind == OpKind::matmul || n.kind == OpKind::conv2d)) label += "+bias";
        if (s.relu) label += "+relu";
        if (s.store_f32) label += "->f32";
        if (s.beta != 0.0f) label += "+=%" + std::to_string(cls.find(s.output));
        for (std::size_t a = 0; a < s.aux.size(); ++a)
            if (s.aux_accumulate & (1u << a)) label += " aux+=%" + std::to_string(cls.find(s.aux[a]));
        impl_->labels.push_back(label + " %" + std::to_string(s.output));
    }
    cl.set_workspace_provider(nullptr);
    if (hooks && hooks->after) hooks->after(cl);
}

Program::~Program() {
    if (impl_) {
        try {
            impl_->cl->wait();
        } catch (...) {  // a lost device: nothing left to wait for
        }
    }
}
Program::Program(Program&&) noexcept = default;
Program& Program::operator=(Program&&) noexcept = default;

void Program::run() { impl_->cl->submit(); }
void Program::wait() { impl_->cl->wait(); }
bool Program::running() const { return impl_->cl->pending(); }
std::size_t Program::dispatch_count() const { return impl_->cl->dispatch_count(); }
std::size_t Program::barrier_count() const { return impl_->cl->barrier_count(); }
MemoryPlanStats Program::memory() const { return impl_->stats; }
std::vector<std::string> Program::steps() const { return impl_->labels; }

std::vector<OpTiming> Program::profile() const {
    std::vector<OpTiming> out;
    for (const detail::OpTiming& t : impl_->cl->timings()) out.push_back({t.label, t.milliseconds});
    return out;
}

} // namespace vkhalf
