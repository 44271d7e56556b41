// CRC-32 through zlib, which is linked for gzip anyway and has a fast, tested implementation.
#include "base/crc32.hpp"

#include <algorithm>

#include <zlib.h>

namespace vkhalf::detail {

uint32_t crc32_update(uint32_t crc, std::span<const std::byte> bytes) {
    // zlib takes the length as uInt (32 bits): feed larger ranges in pieces.
    constexpr std::size_t piece = std::size_t(1) << 30;
    uLong c = crc;
    for (std::size_t done = 0; done < bytes.size();) {
        const std::size_t n = std::min(piece, bytes.size() - done);
        c = ::crc32(c, reinterpret_cast<const Bytef*>(bytes.data() + done), static_cast<uInt>(n));
        done += n;
    }
    return static_cast<uint32_t>(c);
}

std::string crc32_hex(uint32_t crc) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string s(8, '0');
    for (int i = 7; i >= 0; --i, crc >>= 4) s[static_cast<std::size_t>(i)] = hex[crc & 0xf];
    return s;
}

} // namespace vkhalf::detail
