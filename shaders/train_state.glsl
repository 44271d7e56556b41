// train_state.glsl: the training state that lives on the device, so a recorded step replays
// with no host round trip. Mirrors vkhalf::detail::TrainState (src/kernels/train_state.hpp).
// Declare with TRAIN_STATE_BINDING defined, and TRAIN_STATE_READONLY where the shader only reads it
// (the host then binds it read-only: CommandList checks that a writable binding is declared written).
#ifdef TRAIN_STATE_READONLY
#define TRAIN_STATE_ACCESS readonly
#else
#define TRAIN_STATE_ACCESS
#endif
layout(binding = TRAIN_STATE_BINDING) TRAIN_STATE_ACCESS buffer TrainState_ {
    float scale;            // loss scale S: the loss gradient is seeded with S
    float inv_scale;        // float(1 / double(S)), kept exact for power-of-two factors
    uint found_inf;         // set by check_finite.comp this step, cleared by scale_update.comp
    uint growth_tracker;    // clean steps since the last change of S
    uint step;              // steps run, skipped ones included: batch index, LR schedule
    uint optimizer_step;    // steps applied (Adam's t): skipped steps do not count
    uint skipped;           // steps skipped for a non-finite gradient
    uint consecutive_skips; // skipped steps in a row (the host stops a run that only skips)
    float loss_sum;         // metrics since the host last reset them
    uint correct;
    uint seen;
    uint faults;            // sticky numerical-fault bits (FAULT_*), cleared only by the host
} st;

// A 32-bit integer hash with full avalanche (two multiply-xorshift rounds).
uint mix32(uint x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

// The draw of row `row` of the global batch at this step: every replay draws anew, a resumed run
// draws the same, and the split over ranks and micro-batches leaves it unchanged (gather_batch's
// augmentation, gather_windows' window starts; tests/test_train.cpp replays it on the host).
uint step_draw(uint seed, uint row) { return mix32(seed ^ mix32(st.step ^ mix32(row))); }

// st.faults bits
const uint FAULT_WEIGHTS = 1u;  // an update would have made a weight or its optimizer state
                                // inf/NaN (or beyond fp16 for an fp16 working copy): refused
