#pragma once
// A file read as bytes, decompressed on the fly when it starts with the gzip magic: the IDX
// datasets (.gz or plain) and the text corpus (a source distribution, .tar.gz) share it.
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <zlib.h>

#include "base/file.hpp"

namespace vkhalf::detail {

// Gzip files may hold several members one after another (as gzip -d reads them); anything else
// after the last member is an error, like trailing bytes after a plain file. (zlib's gzread would
// skip it.)
class MaybeGzipReader {
public:
    explicit MaybeGzipReader(const std::string& path);  // IoError for a missing or unreadable file
    ~MaybeGzipReader();
    MaybeGzipReader(const MaybeGzipReader&) = delete;
    MaybeGzipReader& operator=(const MaybeGzipReader&) = delete;

    bool gzip() const { return gzip_; }
    const std::string& path() const { return file_.path(); }

    // Reads up to bytes.size() (decompressed) bytes; fewer only at the end of the data. IoError when
    // the gzip stream is corrupt, cut short, or followed by something that is not a gzip member.
    std::size_t read(std::span<std::byte> bytes);

private:
    static constexpr std::array<std::byte, 2> gzip_magic = {std::byte{0x1f}, std::byte{0x8b}};
    static constexpr int gzip_window_bits = 15 + 16;  // 15: any window size; +16: gzip wrapper only
    static constexpr std::size_t input_chunk = std::size_t(64) << 10;

    InputFile file_;
    bool gzip_ = false;
    z_stream z_{};
    std::vector<std::byte> input_;
    bool in_member_ = false;  // inside a gzip member: the file must not end here

    bool refill();  // the next chunk of compressed input; false at the end of the file
};

} // namespace vkhalf::detail
