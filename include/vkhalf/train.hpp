#pragma once
// Trainer: one mixed-precision training step recorded once and replayed, all on the device:
//   gather batch -> forward (fp16, fp32 accumulation) -> the loss in fp32 (softmax cross-entropy,
//   or MSE for a dataset with targets) with the gradient seeded by the loss scale S -> backward ->
//   finite check of every gradient -> fused optimizer (skipped on overflow) -> loss-scale update.
// step() is one queue submission and does not wait; metrics() reads the device when asked.
//
// Data parallel (TrainerOptions::communicator set): every rank runs a Trainer on its own device
// with the same model, data, seed and options. `batch` is then the global batch; each rank gathers
// its disjoint shard of batch / ranks rows of every global batch (one shuffled order, the same on
// every rank), and a step becomes two submissions with the gradient all-reduce between them:
//   gather -> forward -> loss (gradient: mean over the global batch) -> backward   | submission 1
//   host: fp16 gradients -> fp32, sum over the ranks, round to nearest even -> fp16
//   finite check -> optimizer (skipped on overflow) -> loss-scale update         | submission 2
// An inf/NaN on any rank is inf/NaN in the sum on every rank, so every rank skips the same steps
// and keeps the same master weights and loss scale. step() then waits for submission 1.
#include <cstdint>
#include <span>

#include "vkhalf/distributed.hpp"
#include "vkhalf/nn.hpp"

namespace vkhalf {

enum class OptimizerKind : uint8_t { sgd, adam, adamw };
enum class LrSchedule : uint8_t { constant, step, cosine };

struct OptimizerOptions {
    OptimizerKind kind = OptimizerKind::adamw;
    float lr = 1e-3f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // torch.optim.Adam/AdamW defaults
    float weight_decay = 0.01f;                       // AdamW's default; Adam/SGD: L2 (set 0)
    float momentum = 0.0f, dampening = 0.0f;          // SGD
    bool nesterov = false;
    LrSchedule schedule = LrSchedule::constant;
    uint32_t warmup_steps = 0;  // linear warmup over the first steps
    uint32_t step_size = 1;     // step: decay every step_size steps; cosine: steps to the end
    float gamma = 0.1f;         // step: decay factor; cosine: final fraction of lr
    float clip_norm = 0.0f;     // > 0: clip the global gradient norm to this (clip_grad_norm_)
};

enum class LossScaleMode : uint8_t { dynamic, fixed, none };

// torch.amp.GradScaler defaults, plus a floor GradScaler lacks: a dynamic scale never backs off
// below min_scale (1, DeepSpeed's and Megatron's min_loss_scale default), so a run that overflows
// at any scale keeps skipping at the floor until the Trainer stops it (max_consecutive_skips)
// instead of driving S to 0 and 1/S to inf.
struct LossScaleOptions {
    LossScaleMode mode = LossScaleMode::dynamic;
    float init_scale = 65536.0f;
    float growth_factor = 2.0f, backoff_factor = 0.5f;
    uint32_t growth_interval = 2000;
    float min_scale = 1.0f;
};

// Training data resident on the device, uploaded once, of one of three kinds; the kind sets the
// Trainer's loss:
//   images with labels (upload): examples of `features` bytes (0..255, row-major [count,
//   features]) gathered in each epoch's order and normalised; the model maps them to logits
//   [batch, classes]; softmax cross-entropy;
//   images with targets (upload_regression): the same inputs, and per example `classes` f32
//   targets; the model maps them to [batch, classes]; mean squared error (its accuracy: the rows
//   whose largest output is where the target's largest is, which with one-hot targets is the
//   classification accuracy);
//   a token stream (token_stream), for language models: each example is a window of `features`
//   (= block) tokens at a start drawn on the device every step, its labels the next tokens; the
//   model maps u32 tokens [batch, block] to logits [batch, block, classes], and the loss is the
//   per-position cross-entropy. `count` windows make an epoch (stream length / block).
struct DeviceDataset {
    Tensor pixels;   // images: u32, four pixels per word
    Tensor labels;   // images: u32 [count]; with targets, each example's own index
    Tensor targets;  // images with targets: f32 [count, classes]
    Tensor tokens;   // token stream: u32 [n]
    int64_t count = 0, features = 0;
    int classes = 10;  // with targets: the outputs per example
    uint64_t fingerprint = 0;  // of the data: data-parallel ranks compare it
    static DeviceDataset upload(Context& ctx, std::span<const uint8_t> pixels, std::span<const uint8_t> labels,
                                int64_t count, int64_t features, int classes);
    // targets: count * outputs finite floats, row-major. ShapeError for wrong sizes, NumericalError
    // naming the first target that is inf or NaN.
    static DeviceDataset upload_regression(Context& ctx, std::span<const uint8_t> pixels,
                                           std::span<const float> targets, int64_t count, int64_t features,
                                           int outputs);
    // ShapeError for a token >= vocab or a stream no longer than one window.
    static DeviceDataset token_stream(Context& ctx, std::span<const uint32_t> stream, int vocab, int64_t block);
    bool is_tokens() const { return tokens.defined(); }
    bool has_targets() const { return targets.defined(); }
};

// Training-image augmentation, drawn on the device as each batch is gathered (evaluation never
// augments): every image moves by a whole number of pixels in [-shift, shift] each way, the
// uncovered border reading as black (pixel 0), and with flip it is mirrored left-right with
// probability 1/2. The draws depend on the seed, the step and the image's row in the batch, so a
// resumed run draws the same and the split over micro-batches or ranks does not change them.
struct ImageAugmentation {
    uint32_t shift = 0;
    bool flip = false;
    int64_t rows = 0, cols = 0;  // the image shape; rows * cols must be the dataset's features
    bool enabled() const { return shift != 0 || flip; }
};

struct TrainerOptions {
    Precision precision = Precision::fp16;
    int64_t batch = 128;  // with a communicator: the global batch, a multiple of the rank count
    OptimizerOptions optimizer;
    LossScaleOptions loss_scale;
    float mean = 0.0f, std = 1.0f;  // x = (pixel / 255 - mean) / std
    float label_smoothing = 0.0f;   // as torch.nn.CrossEntropyLoss(label_smoothing=...)
    uint64_t seed = 0;              // parameter initialisation and example order
    bool profile = false;           // GPU timestamps per dispatch
    bool reuse_activation_memory = true;  // off: fresh memory for every intermediate (debugging)
    // Parameters whose names start with one of these get no gradient and no update (fine-tuning).
    std::vector<std::string> freeze;
    // false: no weight decay on parameters of one dimension (biases, normalisation weights), the
    // parameter groups of the usual PyTorch recipes. true decays every parameter, as
    // torch.optim does with one group.
    bool decay_vectors = true;
    // Gradient accumulation: each step runs the batch as this many micro-batches (dividing it; with
    // a communicator, each rank's share), forward and backward one after the other so they share
    // activation memory; their gradients are summed on the device and the optimizer runs once.
    // Still one submission. BatchNorm normalises each micro-batch by its own statistics.
    uint32_t micro_batches = 1;
    ImageAugmentation augment;
    bool submit_per_op = false;           // the eager way, one submission per op: benchmarks only
    // Data parallel: the group this Trainer is one rank of (must outlive the Trainer); nullptr:
    // one process. The constructor checks that every rank has the same model, data and options.
    Communicator* communicator = nullptr;
    // metrics() throws NumericalError once this many steps in a row were skipped for non-finite
    // gradients (0: never). A refused weight update stops the run at once, whatever this says.
    uint32_t max_consecutive_skips = 100;
};

struct Metrics {
    double loss_sum = 0;
    uint64_t correct = 0, seen = 0;
    float loss_scale = 1;
    uint32_t skipped = 0, consecutive_skips = 0;
    uint32_t step = 0, optimizer_step = 0;
    double mean_loss() const { return seen ? loss_sum / double(seen) : 0.0; }
    double accuracy() const { return seen ? double(correct) / double(seen) : 0.0; }
};

// What a checkpoint stores besides parameters and moments, so a resumed run continues exactly.
struct TrainingState {
    float loss_scale = 65536.0f;
    uint32_t growth_tracker = 0;
    uint32_t step = 0;            // steps run, skipped included
    uint32_t optimizer_step = 0;  // steps applied (Adam's t)
    uint32_t skipped = 0;
};

// The model must outlive the Trainer; the datasets need not (the Trainer keeps their memory).
class Trainer {
public:
    Trainer(Context& ctx, Sequential& model, const DeviceDataset& train, TrainerOptions options);
    ~Trainer();
    Trainer(const Trainer&) = delete;
    Trainer& operator=(const Trainer&) = delete;

    int64_t steps_per_epoch() const;
    // Shuffles the example order for the next epoch on the host (from the seed and the epoch
    // number) and uploads it; waits for the running step first.
    void shuffle(uint64_t epoch);
    void step();   // one submission, no wait
    void wait();
    // Waits, reads the training metrics and state; reset clears loss/correct/seen afterwards.
    // Data parallel: loss, correct and seen are summed over the ranks (collective).
    // Throws NumericalError when the run can make no more progress: an optimizer update was
    // refused because it would have written inf/NaN into the weights, or max_consecutive_skips
    // steps in a row overflowed (the message says whether the loss scale sits at its minimum).
    Metrics metrics(bool reset = false);
    // Loss and accuracy over a whole dataset with the current working weights (this rank alone).
    Metrics evaluate(const DeviceDataset& data);
    // Data parallel: throws DistributedError unless every rank holds the same master weights,
    // moments and training state, bit for bit (collective; a no-op without a communicator).
    void check_replicas();

    // Waits; NumericalError after a refused weight update, so a diverged run is never saved.
    TrainingState training_state();
    void restore(const TrainingState& state);  // waits; clears the metrics

    ParameterSet& parameters();
    // The model's non-parameter state (running statistics), named as in torch's state_dict.
    std::vector<std::pair<std::string, Tensor>> state_tensors();
    Program& program();  // the step (data parallel: its first submission, up to the backward)
    Tensor& state();  // the device training state (see shaders/train_state.glsl)
    const TrainerOptions& options() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace vkhalf
