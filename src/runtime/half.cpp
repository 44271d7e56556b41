#include "vkhalf/half.hpp"

#include <bit>

namespace vkhalf {

// Same integer algorithm as f32_bits_to_f16_rne() in shaders/common.glsl.
uint16_t f32_to_f16_bits(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)
        return static_cast<uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? (0x0200u | ((ax >> 13) & 0x03ffu)) : 0u));
    if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
    if (ax >= 0x38800000u) {
        const uint32_t odd = (ax >> 13) & 1u;
        return static_cast<uint16_t>(sign | ((ax - 0x38000000u + 0x0fffu + odd) >> 13));
    }
    const uint32_t shift = 126u - (ax >> 23);
    if (shift > 24u) return static_cast<uint16_t>(sign);
    const uint32_t m = (ax & 0x007fffffu) | 0x00800000u;
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (r & 1u) != 0u)) r += 1u;
    return static_cast<uint16_t>(sign | r);
}

float f16_bits_to_f32(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu;
    const uint32_t m = h & 0x03ffu;
    if (e == 31u) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
    if (e != 0u) return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
    if (m == 0u) return std::bit_cast<float>(sign);
    const uint32_t lz = static_cast<uint32_t>(std::countl_zero(m)) - 21u;  // shifts until bit 10 is set
    return std::bit_cast<float>(sign | ((113u - lz) << 23) | (((m << lz) & 0x03ffu) << 13));
}

std::vector<uint16_t> to_f16_bits(std::span<const float> values) {
    std::vector<uint16_t> out(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) out[i] = f32_to_f16_bits(values[i]);
    return out;
}

std::vector<float> from_f16_bits(std::span<const uint16_t> bits) {
    std::vector<float> out(bits.size());
    for (std::size_t i = 0; i < bits.size(); ++i) out[i] = f16_bits_to_f32(bits[i]);
    return out;
}

} // namespace vkhalf
