#include "io/maybe_gzip.hpp"

#include <algorithm>

#include "vkhalf/error.hpp"

namespace vkhalf::detail {

MaybeGzipReader::MaybeGzipReader(const std::string& path) : file_(path) {
    std::array<std::byte, 2> magic{};
    const std::size_t n = file_.read_some(magic);
    file_.rewind();
    if (n == 2 && magic[0] == gzip_magic[0] && magic[1] == gzip_magic[1]) {
        if (inflateInit2(&z_, gzip_window_bits) != Z_OK) throw IoError(quoted(path) + ": cannot set up gzip decompression");
        gzip_ = true;
        input_.resize(input_chunk);
    }
}

MaybeGzipReader::~MaybeGzipReader() {
    if (gzip_) inflateEnd(&z_);
}

std::size_t MaybeGzipReader::read(std::span<std::byte> bytes) {
    if (!gzip_) return file_.read_some(bytes);
    std::size_t got = 0;
    while (got < bytes.size()) {
        if (z_.avail_in == 0 && !refill()) {
            if (in_member_) throw IoError(quoted(file_.path()) + ": gzip stream is cut short");
            break;  // the file ends between members: the end of the data
        }
        if (!in_member_) {
            if (*z_.next_in != std::to_integer<Bytef>(gzip_magic[0]))
                throw IoError(quoted(file_.path()) + ": data after the end of the gzip stream");
            in_member_ = true;  // inflate checks the rest of the member's header
        }
        const std::size_t want = std::min<std::size_t>(bytes.size() - got, 1u << 30);
        z_.next_out = reinterpret_cast<Bytef*>(bytes.data() + got);
        z_.avail_out = static_cast<uInt>(want);
        const int rc = inflate(&z_, Z_NO_FLUSH);
        got += want - z_.avail_out;
        if (rc == Z_STREAM_END) {
            in_member_ = false;
            inflateReset(&z_);
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {  // Z_BUF_ERROR: needs more input, refilled above
            throw IoError(quoted(file_.path()) + ": corrupt gzip stream (" +
                          (z_.msg ? z_.msg : "zlib error " + std::to_string(rc)) + ")");
        }
    }
    return got;
}

bool MaybeGzipReader::refill() {
    const std::size_t n = file_.read_some(input_);
    z_.next_in = reinterpret_cast<Bytef*>(input_.data());
    z_.avail_in = static_cast<uInt>(n);
    return n > 0;
}

} // namespace vkhalf::detail
