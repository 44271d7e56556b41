#pragma once
// Host mirror of shaders/train_state.glsl (std430: twelve 4-byte fields).
#include <cstdint>

namespace vkhalf::detail {

struct TrainState {
    float scale;
    float inv_scale;
    uint32_t found_inf;
    uint32_t growth_tracker;
    uint32_t step;
    uint32_t optimizer_step;
    uint32_t skipped;
    uint32_t consecutive_skips;
    float loss_sum;
    uint32_t correct;
    uint32_t seen;
    uint32_t faults;  // sticky kFault* bits, set by the device, cleared only by the host
};
static_assert(sizeof(TrainState) == 48, "must match shaders/train_state.glsl");

constexpr int64_t kTrainStateWords = sizeof(TrainState) / 4;

// TrainState::faults bits (FAULT_* in shaders/train_state.glsl).
constexpr uint32_t kFaultWeights = 1;  // an update would have made a weight inf/NaN (or beyond fp16): refused

} // namespace vkhalf::detail
