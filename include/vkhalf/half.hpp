#pragma once
// Host-side fp16 conversions, bit-exact and identical to the device's cast kernel:
// round to nearest even, subnormals kept, overflow to inf, NaN stays a quiet NaN.
#include <cstdint>
#include <span>
#include <vector>

namespace vkhalf {

uint16_t f32_to_f16_bits(float f);
float f16_bits_to_f32(uint16_t h);

std::vector<uint16_t> to_f16_bits(std::span<const float> values);
std::vector<float> from_f16_bits(std::span<const uint16_t> bits);

// The float nearest-even-rounded to fp16 and back: what an fp16 tensor stores for f.
inline float round_to_f16(float f) { return f16_bits_to_f32(f32_to_f16_bits(f)); }

} // namespace vkhalf
