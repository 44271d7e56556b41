// vkhalf-train: trains the Fashion-MNIST MLP or CNN on a Vulkan device in mixed precision.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <vkhalf/vkhalf.hpp>

#include "cli.hpp"
#include "train_distributed.hpp"
#include "train_report.hpp"

using namespace vkhalf;

namespace {

const char* kHelp = R"(usage: vkhalf-train [options]

Trains a classifier on an MNIST-format dataset (Fashion-MNIST by default) with fp16 weights,
activations and gradients, fp32 master weights and optimizer state, and dynamic loss scaling, all
on the device; one queue submission per step.

  --model mlp|cnn|resnet   mlp: 784-256-10 with ReLU; cnn: conv3x3 1->32, ReLU, maxpool 2,
                           conv3x3 32->64, ReLU, maxpool 2, linear ->128, ReLU, linear ->10;
                           resnet: conv3x3 1->16 + BatchNorm + ReLU, three stages of two
                           torchvision BasicBlocks (16, 32, 64 channels; 28, 14, 7 pixels),
                           global average pooling, linear 64->10  [mlp]
  --data DIR               directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
                           [$VKHALF_DATA, else fashion-mnist/ beside the vkhalf-train
                           executable, else /usr/share/datasets/fashion-mnist]
  --epochs N               [10; resnet: 15]
  --batch N                [128]
  --lr X                   learning rate [1e-3]
  --optimizer sgd|adam|adamw   [adamw: weight decay 0.01; sgd: momentum 0.9]
  --weight-decay X         [0.01 for adamw, 0 otherwise]
  --schedule constant|cosine   learning rate: cosine decays to 0 at the last step of --epochs
                           (torch's CosineAnnealingLR; a resumed run must keep --epochs), on the
                           device [constant; resnet: cosine]
  --precision fp16|fp32    [fp16]
  --loss-scale dynamic|static|none   [dynamic: GradScaler's rules]
  --init-scale X           initial (or static) loss scale [65536]
  --min-scale X            the dynamic loss scale never backs off below X [1]
  --seed N                 initialisation and shuffling [0]
  --device N               Vulkan device index [VKHALF_DEVICE, else the first GPU, else the first]
  --limit-train N          use only the first N training images
  --checkpoint FILE        save a safetensors checkpoint after every epoch (atomic replace)
  --checkpoint-every N     also save it every N steps within an epoch (0: epochs only) [0]
  --resume FILE            continue from a checkpoint (same model and precision)
  --init-from FILE         start from these weights: a safetensors state_dict as PyTorch saves
                           it (names as model.state_dict(), e.g. 0.weight), or a checkpoint;
                           the optimizer starts fresh. A missing, extra or misshapen tensor is
                           an error naming it
  --save-init FILE         save the initial weights (a checkpoint at step 0) before training
  --shuffle on|off         off: every epoch takes the training images in file order, for
                           step-by-step comparisons with another framework [on]
  --micro-batches N        gradient accumulation: each step's batch in N micro-batches, their
                           gradients summed before one optimizer update (less activation memory) [1]
  --decay-vectors on|off   off: no weight decay on 1-D parameters (biases, BatchNorm weights),
                           the usual PyTorch parameter groups [on: every parameter decays;
                           resnet: off]
  --shift N                augmentation: move each training image by up to N pixels each way,
                           the border filled with black, drawn on the device [0; resnet: 2]
  --flip on|off            augmentation: mirror each training image left-right with
                           probability 1/2 [off]
  --freeze P[,P...]        train nothing whose parameter name starts with one of these
                           prefixes (e.g. 1.,2. for the first convolution and its BatchNorm)
  --metrics FILE.csv       per-epoch metrics, and per --log-every steps
  --log-every N            steps between logged training-loss rows [100]
  --plot FILE.svg          loss and accuracy curves
  --loss xent|mse          xent: softmax cross-entropy; mse: mean squared error against the
                           labels as one-hot vectors (accuracy: the largest output's class) [xent]
  --label-smoothing X      cross-entropy label smoothing in [0, 1] [0]
  --clip-norm X            clip the global gradient norm to X (0: off) [0]
  --max-skips N            stop (exit status 1, nothing saved) when N steps in a row skip for
                           inf/NaN gradients; 0: never. An update that would write inf/NaN into
                           the weights stops the run at once [100]
  --profile                print where one step's GPU time goes (timestamps)
  --help

Data parallel (docs/distributed.md), when built with MPI: run under mpirun, one rank per device:
  mpirun -np 2 vkhalf-train --distributed [options]
--batch is then the global batch (a multiple of the rank count); each rank trains on its share of
every batch and the gradients are summed over the ranks (MPI all-reduce) before the overflow check,
so every rank keeps the same weights and skips the same steps. Rank 0 prints and writes files.
  --distributed            start MPI (implied when mpirun launched the process)
  --devices A,B,...        device index per local rank [the GPUs in turn, else device 0]
  --dist-timeout S         seconds a rank waits for the others before it ends the job [600]
  --rank-checkpoints       every rank also saves its own state to CHECKPOINT.rankR (testing)
  --inject-overflow-step K (testing) rank --inject-rank R [0] gets an inf gradient at step K

Environment: VKHALF_GEMM_KERNEL=regblock|tiled|coopmat replaces the device's default GEMM kernel
(vkhalf-info prints the policy and why); VKHALF_DISABLE_COOPMAT=1 switches cooperative matrices off.

Any failure (a device error, a numerical fault, a bad file) ends with exit status 1 and a message
on stderr; the checkpoint file then still holds the last complete save, for --resume.

The last line is machine-readable:
result: model=... precision=... epochs=... test_accuracy=... test_loss=... images_per_s=...
        skipped_steps=N final_loss_scale=... device="..." ranks=N gemm_f16=KERNEL
)";

struct Args {
    std::string model = "mlp", data, optimizer = "adamw";  // data: default_data_dir() when not given
    // Empty or -1: the model's default (resnet has a recipe of its own, the others share one).
    std::string precision = "fp16", loss_scale = "dynamic", schedule;
    std::string checkpoint, resume, metrics, plot, init_from, freeze, save_init, shuffle = "on", decay_vectors;
    std::string flip = "off", loss = "xent";
    int shift = -1;
    int epochs = -1, batch = 128, log_every = 100, max_skips = 100, checkpoint_every = 0, micro_batches = 1;
    long limit_train = 0;
    double lr = 1e-3, init_scale = 65536, min_scale = 1;
    double weight_decay = -1;  // -1: the optimizer's default
    double label_smoothing = 0, clip_norm = 0;
    uint64_t seed = 0;
    int device = -1;
    bool profile = false;
    std::string devices;
    bool rank_checkpoints = false;
    GroupOptions group;
};

// The dataset when --data is not given: $VKHALF_DATA, else a fashion-mnist/ directory beside the
// executable (the layout docs/android.md pushes to a phone with adb), else where Debian's
// dataset-fashion-mnist installs it.
std::string default_data_dir(const char* argv0) {
    namespace fs = std::filesystem;
    if (const char* env = std::getenv("VKHALF_DATA"); env && *env) return env;
    std::error_code ec;
    const fs::path exe = cli::executable_path(argv0);
    if (exe.has_parent_path()) {
        const fs::path beside = exe.parent_path() / "fashion-mnist";
        if (fs::is_directory(beside, ec)) return beside.string();
    }
    return "/usr/share/datasets/fashion-mnist";
}

[[noreturn]] void usage_error(const std::string& what) { cli::usage_error("vkhalf-train", what); }

template <typename T>
T number(const char* flag, const char* text) {
    return cli::number<T>("vkhalf-train", flag, text);
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string f = argv[i];
        if (f == "--help" || f == "-h") {
            std::fputs(kHelp, stdout);
            std::exit(0);
        }
        if (f == "--profile") { a.profile = true; continue; }
        if (f == "--distributed") { a.group.requested = true; continue; }
        if (f == "--rank-checkpoints") { a.rank_checkpoints = true; continue; }
        if (i + 1 >= argc) usage_error(f + " needs a value");
        const char* v = argv[++i];
        if (f == "--model") a.model = v;
        else if (f == "--data") a.data = v;
        else if (f == "--epochs") a.epochs = number<int>("--epochs", v);
        else if (f == "--batch") a.batch = number<int>("--batch", v);
        else if (f == "--lr") a.lr = number<double>("--lr", v);
        else if (f == "--optimizer") a.optimizer = v;
        else if (f == "--weight-decay") a.weight_decay = number<double>("--weight-decay", v);
        else if (f == "--precision") a.precision = v;
        else if (f == "--loss-scale") a.loss_scale = v;
        else if (f == "--init-scale") a.init_scale = number<double>("--init-scale", v);
        else if (f == "--min-scale") a.min_scale = number<double>("--min-scale", v);
        else if (f == "--seed") a.seed = number<uint64_t>("--seed", v);
        else if (f == "--device") a.device = number<int>("--device", v);
        else if (f == "--limit-train") a.limit_train = number<long>("--limit-train", v);
        else if (f == "--checkpoint") a.checkpoint = v;
        else if (f == "--checkpoint-every") a.checkpoint_every = number<int>("--checkpoint-every", v);
        else if (f == "--resume") a.resume = v;
        else if (f == "--init-from") a.init_from = v;
        else if (f == "--freeze") a.freeze = v;
        else if (f == "--save-init") a.save_init = v;
        else if (f == "--shuffle") a.shuffle = v;
        else if (f == "--decay-vectors") a.decay_vectors = v;
        else if (f == "--shift") a.shift = number<int>("--shift", v);
        else if (f == "--flip") a.flip = v;
        else if (f == "--micro-batches") a.micro_batches = number<int>("--micro-batches", v);
        else if (f == "--metrics") a.metrics = v;
        else if (f == "--log-every") a.log_every = number<int>("--log-every", v);
        else if (f == "--plot") a.plot = v;
        else if (f == "--max-skips") a.max_skips = number<int>("--max-skips", v);
        else if (f == "--loss") a.loss = v;
        else if (f == "--label-smoothing") a.label_smoothing = number<double>("--label-smoothing", v);
        else if (f == "--clip-norm") a.clip_norm = number<double>("--clip-norm", v);
        else if (f == "--schedule") a.schedule = v;
        else if (f == "--devices") a.devices = v;
        else if (f == "--dist-timeout") a.group.timeout_seconds = number<double>("--dist-timeout", v);
        else if (f == "--inject-overflow-step") a.group.inject_overflow_step = number<long>("--inject-overflow-step", v);
        else if (f == "--inject-rank") a.group.inject_rank = number<int>("--inject-rank", v);
        else usage_error("unknown option '" + f + "'");
    }
    if (a.data.empty()) a.data = default_data_dir(argv[0]);
    if (!a.resume.empty() && !a.init_from.empty()) usage_error("--resume and --init-from exclude each other");
    // The ResNet's recipe: 15 epochs of cosine decay, no weight decay on vectors, shifts of up to 2
    // pixels. PyTorch trains the same model with it to 93.3-93.7% (four seeds, docs/autograd.md);
    // with the shared defaults (10 epochs, constant) it stops at 91.7%.
    const bool resnet = a.model == "resnet";
    if (a.epochs == -1) a.epochs = resnet ? 15 : 10;
    if (a.schedule.empty()) a.schedule = resnet ? "cosine" : "constant";
    if (a.decay_vectors.empty()) a.decay_vectors = resnet ? "off" : "on";
    if (a.shift == -1) a.shift = resnet ? 2 : 0;
    if (a.shift < 0 || a.shift > 8) usage_error("--shift must be in [0, 8]");
    if (a.flip != "on" && a.flip != "off") usage_error("--flip must be on or off");
    if (a.shuffle != "on" && a.shuffle != "off") usage_error("--shuffle must be on or off");
    if (a.decay_vectors != "on" && a.decay_vectors != "off") usage_error("--decay-vectors must be on or off");
    if (a.micro_batches < 1 || a.batch % a.micro_batches) usage_error("--micro-batches must divide --batch");
    if (a.model != "mlp" && a.model != "cnn" && a.model != "resnet") usage_error("--model must be mlp, cnn or resnet");
    if (a.optimizer != "sgd" && a.optimizer != "adam" && a.optimizer != "adamw") usage_error("--optimizer must be sgd, adam or adamw");
    if (a.precision != "fp16" && a.precision != "fp32") usage_error("--precision must be fp16 or fp32");
    if (a.loss_scale != "dynamic" && a.loss_scale != "static" && a.loss_scale != "none")
        usage_error("--loss-scale must be dynamic, static or none");
    if (a.batch < 1 || a.epochs < 1) usage_error("--batch and --epochs must be at least 1");
    if (!(a.lr > 0) || !(a.init_scale > 0) || !(a.min_scale > 0)) usage_error("--lr, --init-scale and --min-scale must be positive");
    if (a.min_scale > a.init_scale) usage_error("--min-scale must not exceed --init-scale");
    if (a.label_smoothing < 0 || a.label_smoothing > 1) usage_error("--label-smoothing must be in [0, 1]");
    if (a.loss != "xent" && a.loss != "mse") usage_error("--loss must be xent or mse");
    if (a.loss == "mse" && a.label_smoothing != 0) usage_error("--label-smoothing is for --loss xent");
    if (a.schedule != "constant" && a.schedule != "cosine") usage_error("--schedule must be constant or cosine");
    if (!(a.group.timeout_seconds > 0)) usage_error("--dist-timeout must be positive");
    if (!mpi_built() && (a.group.requested || !a.devices.empty() || a.group.inject_overflow_step > 0))
        usage_error("--distributed, --devices and --inject-overflow-step need a vkhalf-train built with MPI "
                    "(Debian: libopenmpi-dev, then reconfigure)");
    return a;
}

std::unique_ptr<Sequential> make_model(const std::string& name, int64_t rows, int64_t cols) {
    auto m = std::make_unique<Sequential>();
    if (name == "mlp") {
        m->emplace<Linear>(rows * cols, 256).emplace<ReLU>().emplace<Linear>(256, 10);
    } else if (name == "resnet") {
        // Three stages of two basic blocks (16, 32, 64 channels; the second and third halve the
        // size through a strided block with a 1x1 projection shortcut), global average pooling.
        Conv2dParams same;
        same.pad_h = same.pad_w = 1;
        m->emplace<Unflatten>(Shape{1, rows, cols})
            .emplace<Conv2d>(1, 16, 3, same, false)
            .emplace<BatchNorm2d>(16)
            .emplace<ReLU>()
            .emplace<BasicBlock>(16, 16)
            .emplace<BasicBlock>(16, 16)
            .emplace<BasicBlock>(16, 32, 2)
            .emplace<BasicBlock>(32, 32)
            .emplace<BasicBlock>(32, 64, 2)
            .emplace<BasicBlock>(64, 64)
            .emplace<GlobalAvgPool2d>()
            .emplace<Linear>(64, 10);
    } else {
        const int64_t h = ((rows - 2) / 2 - 2) / 2, w = ((cols - 2) / 2 - 2) / 2;  // after two conv3 + pool2
        m->emplace<Unflatten>(Shape{1, rows, cols})
            .emplace<Conv2d>(1, 32, 3)
            .emplace<ReLU>()
            .emplace<MaxPool2d>(2)
            .emplace<Conv2d>(32, 64, 3)
            .emplace<ReLU>()
            .emplace<MaxPool2d>(2)
            .emplace<Flatten>()
            .emplace<Linear>(64 * h * w, 128)
            .emplace<ReLU>()
            .emplace<Linear>(128, 10);
    }
    return m;
}

TrainerOptions trainer_options(const Args& a, float mean, float std, int64_t steps_per_epoch, Communicator* comm) {
    TrainerOptions o;
    o.communicator = comm;
    o.precision = a.precision == "fp16" ? Precision::fp16 : Precision::fp32;
    o.batch = a.batch;
    o.seed = a.seed;
    o.mean = mean;
    o.std = std;
    o.profile = a.profile;
    o.label_smoothing = float(a.label_smoothing);
    OptimizerOptions& opt = o.optimizer;
    opt.kind = a.optimizer == "sgd" ? OptimizerKind::sgd : a.optimizer == "adam" ? OptimizerKind::adam : OptimizerKind::adamw;
    opt.lr = float(a.lr);
    opt.weight_decay = a.weight_decay >= 0 ? float(a.weight_decay) : opt.kind == OptimizerKind::adamw ? 0.01f : 0.0f;
    if (opt.kind == OptimizerKind::sgd) opt.momentum = 0.9f;
    opt.clip_norm = float(a.clip_norm);
    if (a.schedule == "cosine") {  // over the whole run, so a resumed run continues the same curve
        opt.schedule = LrSchedule::cosine;
        opt.step_size = uint32_t(std::max<int64_t>(1, steps_per_epoch * a.epochs));
        opt.gamma = 0.0f;
    }
    o.loss_scale.mode = a.loss_scale == "dynamic" ? LossScaleMode::dynamic
                        : a.loss_scale == "static" ? LossScaleMode::fixed
                                                   : LossScaleMode::none;
    o.loss_scale.init_scale = float(a.init_scale);
    o.loss_scale.min_scale = float(a.min_scale);
    o.max_consecutive_skips = uint32_t(a.max_skips);
    o.decay_vectors = a.decay_vectors == "on";
    o.micro_batches = uint32_t(a.micro_batches);
    o.augment.shift = uint32_t(a.shift);
    o.augment.flip = a.flip == "on";
    for (std::size_t start = 0; !a.freeze.empty() && start <= a.freeze.size();) {
        const std::size_t comma = std::min(a.freeze.find(',', start), a.freeze.size());
        if (comma == start) usage_error("--freeze: an empty prefix in '" + a.freeze + "'");
        o.freeze.push_back(a.freeze.substr(start, comma - start));
        start = comma + 1;
    }
    return o;
}

// What every rank must share beyond the Trainer's own checks: the loop (epochs, logging: metrics()
// is collective) and the resume. Per-rank choices (devices, paths of data and checkpoints) differ.
uint64_t loop_fingerprint(const Args& a) {
    std::string text;
    for (const std::string& v : {a.model, a.optimizer, a.precision, a.loss_scale, a.schedule,
                                 std::to_string(a.epochs), std::to_string(a.batch), std::to_string(a.log_every),
                                 std::to_string(a.max_skips), std::to_string(a.limit_train), std::to_string(a.lr),
                                 std::to_string(a.init_scale), std::to_string(a.weight_decay),
                                 std::to_string(a.label_smoothing), std::to_string(a.clip_norm), std::to_string(a.seed),
                                 std::to_string(a.shift), a.flip, a.decay_vectors, a.loss,
                                 std::to_string(a.profile), std::to_string(a.resume.empty())})
        text += v + '\n';
    return fingerprint_bytes(std::as_bytes(std::span(text)));
}

void print_profile(Trainer& tr, bool lead) {
    tr.step();
    tr.wait();
    if (lead) print_step_profile(tr.program());
}

int run(const Args& a, ProcessGroup& group) {
    const bool lead = group.lead();  // prints and writes files
    if (Communicator* comm = group.communicator())
        check_ranks_agree(*comm, "vkhalf-train options", loop_fingerprint(a));
    ContextOptions co;
    co.device_index = group.device_for_rank(a.device, a.devices);
    Context ctx(co);
    MnistSplit train_split = load_mnist_split(a.data, "train");
    const MnistSplit test_split = load_mnist_split(a.data, "t10k");
    if (a.limit_train > 0 && a.limit_train < train_split.count) {
        train_split.count = a.limit_train;
        train_split.images.resize(std::size_t(a.limit_train * train_split.rows * train_split.cols));
        train_split.labels.resize(std::size_t(a.limit_train));
    }
    const int64_t features = train_split.rows * train_split.cols;
    // Normalisation from the training images: x = (pixel/255 - mean) / std.
    double sum = 0, sq = 0;
    for (uint8_t p : train_split.images) sum += p / 255.0, sq += (p / 255.0) * (p / 255.0);
    const double n = double(train_split.images.size());
    const float mean = float(sum / n), std = float(std::sqrt(std::max(sq / n - (sum / n) * (sum / n), 1e-12)));

    // --loss mse: the labels as one-hot targets, so the Trainer trains with MSE.
    auto dataset = [&](const MnistSplit& split) {
        if (a.loss == "xent")
            return DeviceDataset::upload(ctx, split.images, split.labels, split.count, features, mnist_classes);
        std::vector<float> onehot(std::size_t(split.count) * mnist_classes, 0.0f);
        for (std::size_t i = 0; i < split.labels.size(); ++i) onehot[i * mnist_classes + split.labels[i]] = 1.0f;
        return DeviceDataset::upload_regression(ctx, split.images, onehot, split.count, features, mnist_classes);
    };
    const DeviceDataset train = dataset(train_split), test = dataset(test_split);
    auto model = make_model(a.model, train_split.rows, train_split.cols);
    TrainerOptions options = trainer_options(a, mean, std, train.count / a.batch, group.communicator());
    options.augment.rows = train_split.rows;
    options.augment.cols = train_split.cols;
    Trainer tr(ctx, *model, train, options);

    const std::map<std::string, std::string> run_meta = {
        {"vkhalf.model", a.model}, {"vkhalf.seed", std::to_string(a.seed)}, {"vkhalf.mean", cli::exact(mean)},
        {"vkhalf.std", cli::exact(std)}, {"vkhalf.optimizer", a.optimizer}, {"vkhalf.schedule", a.schedule},
        {"vkhalf.augment", "shift=" + std::to_string(a.shift) + ",flip=" + a.flip}, {"vkhalf.loss", a.loss},
        {"vkhalf.version", VKHALF_VERSION_STRING}, {"vkhalf.freeze", a.freeze}};
    const long spe = long(tr.steps_per_epoch());
    int first_epoch = 1;
    long first_step = 1;  // within first_epoch: a checkpoint saved mid-epoch resumes where it was
    if (!a.resume.empty()) {
        const auto meta = load_checkpoint(tr, a.resume);
        if (auto it = meta.find("vkhalf.model"); it != meta.end() && it->second != a.model)
            throw Error(a.resume + ": a checkpoint of the " + it->second + " model, not " + a.model);
        if (auto it = meta.find("vkhalf.loss"); it != meta.end() && it->second != a.loss)
            throw Error(a.resume + ": trained with --loss " + it->second + ", not " + a.loss);
        if (auto it = meta.find("vkhalf.freeze"); it != meta.end() && it->second != a.freeze)
            throw Error(a.resume + ": trained with --freeze '" + it->second + "', not '" + a.freeze + "'");
        if (auto it = meta.find("vkhalf.augment"); it != meta.end() && it->second != run_meta.at("vkhalf.augment"))
            throw Error(a.resume + ": trained with augmentation " + it->second + ", not " + run_meta.at("vkhalf.augment") +
                        " (give the same --shift and --flip)");
        if (auto it = meta.find("vkhalf.epoch"); it != meta.end()) first_epoch = std::stoi(it->second) + 1;
        if (auto it = meta.find("vkhalf.epoch_step"); it != meta.end()) {
            first_step = std::stol(it->second) + 1;
            const uint32_t step = tr.training_state().step;
            if (first_step > spe || uint64_t(step) != uint64_t(first_epoch - 1) * uint64_t(spe) + uint64_t(first_step - 1))
                throw Error(a.resume + ": saved after step " + std::to_string(step) + ", which is not step " +
                            std::to_string(first_step - 1) + " of epoch " + std::to_string(first_epoch) + " at " +
                            std::to_string(spe) + " steps per epoch (a different --batch or --limit-train?)");
            if (lead) std::printf("resumed from %s at epoch %d step %ld\n", a.resume.c_str(), first_epoch, first_step - 1);
        } else if (lead) {
            std::printf("resumed from %s after epoch %d\n", a.resume.c_str(), first_epoch - 1);
        }
        tr.check_replicas();  // every rank read the same file
    } else if (!a.init_from.empty()) {
        load_weights(tr, a.init_from);
        if (lead) std::printf("initial weights from %s\n", a.init_from.c_str());
        tr.check_replicas();
    }
    // Every save is preceded by metrics() (which throws on a numerical fault), so a run that went
    // wrong never replaces the last good checkpoint. Data parallel: every rank calls it (metrics()
    // is collective), rank 0 writes.
    auto save = [&](int epoch, long steps_done) {
        tr.metrics();
        auto meta = run_meta;
        meta["vkhalf.epoch"] = std::to_string(steps_done == spe ? epoch : epoch - 1);
        if (steps_done != spe) meta["vkhalf.epoch_step"] = std::to_string(steps_done);
        if (lead) save_checkpoint(tr, a.checkpoint, meta);
        if (a.rank_checkpoints) save_checkpoint(tr, a.checkpoint + ".rank" + std::to_string(group.rank()), meta);
    };
    if (a.profile) print_profile(tr, lead);
    if (!a.save_init.empty() && lead) {
        auto meta = run_meta;
        meta["vkhalf.epoch"] = std::to_string(first_epoch - 1);
        save_checkpoint(tr, a.save_init, meta);
    }

    const DeviceCaps& caps = ctx.caps();
    if (lead)
        std::printf("device %u: %s (%s); %s model, %s, %s, %s loss, batch %d, %lld training images; GEMM kernels "
                    "f16 %s, f32 %s\n",
                    ctx.device_index(), caps.name.c_str(), caps.driver.c_str(), a.model.c_str(), a.precision.c_str(),
                    a.optimizer.c_str(), a.loss == "mse" ? "MSE" : "cross-entropy", a.batch, (long long)train.count,
                    std::string(to_string(caps.gemm_f16)).c_str(), std::string(to_string(caps.gemm_f32)).c_str());
    if (lead) {
        const MemoryPlanStats mem = tr.program().memory();
        std::printf("step: %zu dispatches, %zu barriers; %zu intermediates and %zu op workspaces in %.2f MiB (%.2f "
                    "MiB without reuse)\n",
                    tr.program().dispatch_count(), tr.program().barrier_count(), mem.values, mem.workspaces,
                    double(mem.planned_bytes) / 1048576.0, double(mem.unplanned_bytes) / 1048576.0);
    }
    if (lead && group.size() > 1)
        std::printf("data parallel: %d ranks, %d images of every batch per rank, gradients summed over MPI\n",
                    group.size(), a.batch / group.size());
    const bool tty = isatty(fileno(stdout)) && group.size() == 1;
    std::vector<EpochRecord> history;
    std::vector<StepRecord> steps;
    Metrics last_test;
    double total_images = 0, total_seconds = 0;
    for (int epoch = first_epoch; epoch <= a.epochs; ++epoch) {
        if (a.shuffle == "on") tr.shuffle(uint64_t(epoch - 1));
        const auto start = std::chrono::steady_clock::now();
        auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
        double epoch_loss = 0, epoch_correct = 0, epoch_seen = 0;
        const long start_step = epoch == first_epoch ? first_step : 1;
        for (long s = start_step; s <= spe; ++s) {
            tr.step();
            if (!a.checkpoint.empty() && a.checkpoint_every > 0 && s % a.checkpoint_every == 0 && s != spe)
                save(epoch, s);
            const bool log = (a.log_every > 0 && s % a.log_every == 0) || s == spe;
            if (!log && !(tty && s % 20 == 0)) continue;
            if (tty) clear_progress(stdout);  // a numerical fault's message starts on a clean line
            const Metrics m = tr.metrics(log);  // waits: only every few steps; throws on a numerical fault
            if (log) {
                epoch_loss += m.loss_sum, epoch_correct += double(m.correct), epoch_seen += double(m.seen);
                steps.push_back({epoch, s, m.mean_loss(), m.accuracy(), m.loss_scale});
            }
            if (tty) draw_progress(stdout, epoch, s, spe, double(s - start_step + 1) * a.batch / elapsed(), m.seen ? m.mean_loss() : epoch_loss / std::max(epoch_seen, 1.0), m.loss_scale);
        }
        const Metrics end = tr.metrics(true);
        epoch_loss += end.loss_sum, epoch_correct += double(end.correct), epoch_seen += double(end.seen);
        const double seconds = elapsed();
        if (lead) last_test = tr.evaluate(test);  // the same weights on every rank: one evaluates
        if (tty) clear_progress(stdout);
        tr.check_replicas();  // data parallel: every rank holds the same weights, bit for bit
        const double images = double(spe - start_step + 1) * a.batch;
        EpochRecord r{epoch, epoch_loss / epoch_seen, epoch_correct / epoch_seen, last_test.mean_loss(),
                      last_test.accuracy(), images / seconds, seconds, end.skipped, end.loss_scale};
        history.push_back(r);
        total_images += images, total_seconds += seconds;
        if (lead) std::printf("%s\n", epoch_line(r).c_str());
        std::fflush(stdout);
        if (!a.checkpoint.empty()) save(epoch, spe);
        if (!lead) continue;
        if (!a.metrics.empty()) write_metrics_csv(a.metrics, history, steps);
        if (!a.plot.empty()) write_plot_svg(a.plot, "vkhalf " + a.model + " " + a.precision + " on " + caps.name, history);
    }
    const Metrics final_state = tr.metrics();
    if (history.empty() && lead) last_test = tr.evaluate(test);
    if (lead)
        std::printf("result: model=%s precision=%s epochs=%d test_accuracy=%.4f test_loss=%.4f images_per_s=%.0f "
                    "skipped_steps=%u final_loss_scale=%g device=\"%s\" ranks=%d gemm_f16=%s\n",
                    a.model.c_str(), a.precision.c_str(), a.epochs, last_test.accuracy(), last_test.mean_loss(),
                    total_seconds > 0 ? total_images / total_seconds : 0.0, final_state.skipped,
                    final_state.loss_scale, caps.name.c_str(), group.size(),
                    std::string(to_string(caps.gemm_f16)).c_str());
    return cli::validation_verdict("vkhalf-train", ctx);
}

} // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    std::unique_ptr<ProcessGroup> group;
    try {
        group = std::make_unique<ProcessGroup>(argc, argv, args.group);
        return run(args, *group);
    } catch (const vkhalf::Error& e) {
        const bool several = group && group->size() > 1;
        if (!several) std::fprintf(stderr, "vkhalf-train: %s\n", e.what());
        if (!args.checkpoint.empty())
            std::fprintf(stderr, "vkhalf-train: stopped without saving; %s holds the last complete checkpoint (if any)\n",
                         args.checkpoint.c_str());
        if (several) group->fail(e.what(), 1);  // ends every rank, naming this one
        return 1;
    } catch (const std::exception& e) {
        if (group) group->fail(e.what(), 1);  // a rank of several: ends them all, naming this rank
        std::fprintf(stderr, "vkhalf-train: %s\n", e.what());
        return 1;
    }
}
