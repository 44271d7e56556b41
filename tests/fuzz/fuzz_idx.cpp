// Fuzz target: read_idx on arbitrary bytes, then on the same bytes gzip-compressed. Either read
// may fail only with a vkhalf::Error, and both must agree: the same array, or the same error type
// (gzip is a transport; it must not change what the IDX parser accepts).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <typeinfo>
#include <vector>

#include <zlib.h>

#include <vkhalf/error.hpp>
#include <vkhalf/io.hpp>

#include "scratch_file.hpp"

namespace {

// What one read_idx call ended with: the array, or the dynamic type of the vkhalf::Error.
struct Outcome {
    const std::type_info* error = nullptr;
    vkhalf::IdxArray array;
};

Outcome read(const vkhalf::fuzz::ScratchFile& file) {
    Outcome out;
    try {
        out.array = vkhalf::read_idx(file.path());
    } catch (const vkhalf::Error& e) {
        out.error = &typeid(e);
    }
    return out;
}

// `bytes` as one gzip member (deflate level 1: the content matters here, not the ratio).
std::vector<uint8_t> gzip(std::span<const uint8_t> bytes) {
    z_stream z{};
    constexpr int gzip_window_bits = 15 + 16;  // 15: the largest window; +16: gzip header and trailer
    if (deflateInit2(&z, 1, Z_DEFLATED, gzip_window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
    std::vector<uint8_t> out(deflateBound(&z, static_cast<uLong>(bytes.size())));
    z.next_in = const_cast<Bytef*>(bytes.data());  // zlib's API is not const-correct; it only reads
    z.avail_in = static_cast<uInt>(bytes.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

bool same(const Outcome& a, const Outcome& b) {
    if (a.error || b.error) return a.error && b.error && *a.error == *b.error;
    return a.array.dims == b.array.dims && a.array.data == b.array.data;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    static const vkhalf::fuzz::ScratchFile plain_file(".idx");
    static const vkhalf::fuzz::ScratchFile gzip_file(".idx.gz");
    const std::span<const uint8_t> bytes(data, size);

    plain_file.write(bytes);
    const Outcome plain = read(plain_file);

    // Input that is itself gzip is read as such by the plain read; compressing it again would
    // compare different things.
    const bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!is_gzip) {
        gzip_file.write(gzip(bytes));
        if (!same(plain, read(gzip_file))) std::abort();  // a finding: the two paths disagree
    }
    return 0;
}
