// IDX reader (plain or gzip) and the MNIST-format split loader. The header is checked field by
// field before it sizes anything, and data is read in pieces, so a lying header cannot make the
// reader allocate more than the file really holds.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>

#include "io/maybe_gzip.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/io.hpp"

namespace vkhalf {

namespace {

using detail::quoted;

std::string dims_string(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
}

// "0x" and `digits` hex digits.
std::string hex(uint32_t v, int digits) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%0*x", digits, v);
    return buf;
}

// The names IDX gives its element types, for messages.
std::string idx_type_name(unsigned type) {
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0b: return "int16";
    case 0x0c: return "int32";
    case 0x0d: return "float32";
    case 0x0e: return "float64";
    default: return "unknown type";
    }
}

// Sizes in messages count decompressed bytes; say so for gzip files.
std::string compressed_note(const detail::MaybeGzipReader& src) { return src.gzip() ? " (after gzip decompression)" : ""; }

} // namespace

IdxArray read_idx(const std::string& path) {
    detail::MaybeGzipReader src(path);
    const std::string where = quoted(path);

    // Magic: two zero bytes, the element type, the number of dimensions.
    std::array<std::byte, 4> magic{};
    const std::size_t magic_read = src.read(magic);
    if (magic_read < magic.size())
        throw IoError(where + ": truncated IDX header: expected 4 magic bytes, found " + std::to_string(magic_read) +
                      compressed_note(src));
    const auto byte = [](std::byte b) { return static_cast<uint32_t>(b); };
    const uint32_t magic_value = byte(magic[0]) << 24 | byte(magic[1]) << 16 | byte(magic[2]) << 8 | byte(magic[3]);
    const unsigned type = byte(magic[2]);
    const unsigned rank = byte(magic[3]);
    if (magic[0] != std::byte{0} || magic[1] != std::byte{0} || rank == 0)
        throw IoError(where + ": bad magic " + hex(magic_value, 8) +
                      ": not an IDX file (expected 0x000008NN, NN = number of dimensions > 0)");
    if (type != 0x08)
        throw DTypeError(where + ": IDX element type " + hex(type, 2) + " (" + idx_type_name(type) +
                         ") is not supported; only 0x08 (unsigned byte)");

    // Dimensions: big-endian uint32 each, all > 0, product within the size limit.
    std::vector<std::byte> dim_bytes(4 * std::size_t(rank));
    const std::size_t dims_read = src.read(dim_bytes);
    if (dims_read < dim_bytes.size())
        throw IoError(where + ": truncated IDX header: expected " + std::to_string(rank) + " dimension sizes (" +
                      std::to_string(dim_bytes.size()) + " bytes), found " + std::to_string(dims_read) + " bytes" +
                      compressed_note(src));
    IdxArray out;
    uint64_t total = 1;
    for (unsigned d = 0; d < rank; ++d) {
        const std::byte* p = dim_bytes.data() + 4 * d;
        const uint32_t dim = byte(p[0]) << 24 | byte(p[1]) << 16 | byte(p[2]) << 8 | byte(p[3]);
        if (dim == 0) throw IoError(where + ": IDX dimension " + std::to_string(d) + " is 0");
        out.dims.push_back(dim);
        total *= dim;  // total <= 2^31 and dim < 2^32 before this: no overflow
        if (total > uint64_t(idx_max_data_bytes))
            throw IoError(where + ": IDX data of " + dims_string(out.dims) + (d + 1 < rank ? "..." : "") +
                          " exceeds the limit of " + std::to_string(idx_max_data_bytes) + " bytes");
    }

    // Data: grown piece by piece up to what the header promised.
    constexpr std::size_t piece = std::size_t(1) << 20;
    const auto expected = static_cast<std::size_t>(total);
    out.data.reserve(std::min(expected, piece));
    std::size_t have = 0;
    while (have < expected) {
        const std::size_t want = std::min(piece, expected - have);
        out.data.resize(have + want);
        const std::size_t n = src.read(std::as_writable_bytes(std::span(out.data)).subspan(have, want));
        have += n;
        if (n < want) break;
    }
    if (have < expected)
        throw IoError(where + ": truncated: expected " + std::to_string(expected) + " bytes of data for " +
                      dims_string(out.dims) + ", found " + std::to_string(have) + compressed_note(src));

    // Nothing may follow: an over-long file is as suspect as a short one. Count a bounded amount.
    constexpr std::size_t trailing_cap = std::size_t(1) << 20;
    std::vector<std::byte> probe(64 * 1024);
    std::size_t trailing = 0;
    while (trailing <= trailing_cap) {
        const std::size_t n = src.read(probe);
        trailing += n;
        if (n < probe.size()) break;
    }
    if (trailing > 0)
        throw IoError(where + ": " + (trailing > trailing_cap ? "more than " + std::to_string(trailing_cap)
                                                              : std::to_string(trailing)) +
                      " trailing bytes after the " + std::to_string(expected) + " bytes of data for " +
                      dims_string(out.dims) + compressed_note(src));
    return out;
}

namespace {

// <dir>/<name>.gz if present, else <dir>/<name>; IoError naming both when neither exists.
std::string find_split_file(const std::string& dir, const std::string& name) {
    const std::filesystem::path plain = std::filesystem::path(dir) / name;
    const std::filesystem::path gz = std::filesystem::path(dir) / (name + ".gz");
    std::error_code ec;
    if (std::filesystem::exists(gz, ec)) return gz.string();
    if (std::filesystem::exists(plain, ec)) return plain.string();
    throw IoError("cannot find " + quoted(gz.string()) + " or " + quoted(plain.string()));
}

} // namespace

MnistSplit load_mnist_split(const std::string& dir, const std::string& split) {
    const std::string images_path = find_split_file(dir, split + "-images-idx3-ubyte");
    const std::string labels_path = find_split_file(dir, split + "-labels-idx1-ubyte");
    IdxArray images = read_idx(images_path);
    IdxArray labels = read_idx(labels_path);

    if (images.dims.size() != 3)
        throw ShapeError(quoted(images_path) + ": images must have rank 3 (count, rows, cols), found rank " +
                         std::to_string(images.dims.size()) + " " + dims_string(images.dims));
    if (labels.dims.size() != 1)
        throw ShapeError(quoted(labels_path) + ": labels must have rank 1 (count), found rank " +
                         std::to_string(labels.dims.size()) + " " + dims_string(labels.dims));
    if (images.dims[0] != labels.dims[0])
        throw ShapeError("image and label counts differ: " + quoted(images_path) + " holds " +
                         std::to_string(images.dims[0]) + " images, " + quoted(labels_path) + " holds " +
                         std::to_string(labels.dims[0]) + " labels");
    const auto bad = std::find_if(labels.data.begin(), labels.data.end(),
                                  [](uint8_t label) { return label >= mnist_classes; });
    if (bad != labels.data.end())
        throw IoError(quoted(labels_path) + ": label at index " + std::to_string(bad - labels.data.begin()) + " is " +
                      std::to_string(*bad) + ", outside [0, " + std::to_string(mnist_classes) + ")");

    MnistSplit out;
    out.count = images.dims[0];
    out.rows = images.dims[1];
    out.cols = images.dims[2];
    out.images = std::move(images.data);
    out.labels = std::move(labels.data);
    return out;
}

} // namespace vkhalf
