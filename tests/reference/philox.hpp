#pragma once
// Philox4x32-10 on the CPU (Salmon et al., SC 2011), written from the algorithm's description,
// and the dropout mask vkhalf draws with it.
#include <array>
#include <cstdint>
#include <vector>

namespace ref {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key);

// keep[i] = philox4x32_10({offset + i mod 2^32, 0, 0, 0}, {seed, 0})[0] / 2^32 >= p, in double.
std::vector<bool> dropout_mask(uint32_t seed, uint32_t offset, std::size_t n, double p);

} // namespace ref
