#include "reference/philox.hpp"

#include <cmath>

namespace ref {

PhiloxCounter philox4x32_10(PhiloxCounter c, PhiloxKey k) {
    constexpr uint64_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;   // round multipliers
    constexpr uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;   // key increments (golden ratio, sqrt 3 - 1)
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k[0] += w0;
            k[1] += w1;
        }
        const uint64_t p0 = m0 * c[0], p1 = m1 * c[2];         // full 64-bit products
        const auto hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
        const auto hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
        c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    }
    return c;
}

std::vector<bool> dropout_mask(uint32_t seed, uint32_t offset, std::size_t n, double p) {
    std::vector<bool> keep(n);
    for (std::size_t i = 0; i < n; ++i) {
        const uint32_t counter = offset + static_cast<uint32_t>(i);  // wraps mod 2^32
        const uint32_t word = philox4x32_10({counter, 0, 0, 0}, {seed, 0})[0];
        keep[i] = std::ldexp(static_cast<double>(word), -32) >= p;
    }
    return keep;
}

} // namespace ref
