#pragma once
// CRC-32 (the zlib / gzip / PNG polynomial, as Python's zlib.crc32) of byte ranges.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace vkhalf::detail {

// The CRC-32 of `bytes` continued from `crc` (0 to start), so a long range can be fed in pieces.
uint32_t crc32_update(uint32_t crc, std::span<const std::byte> bytes);

// 8 lowercase hex digits.
std::string crc32_hex(uint32_t crc);

} // namespace vkhalf::detail
