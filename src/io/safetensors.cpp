// safetensors writer and reader. Layout: u64 little-endian header length N, N bytes of JSON
// ({"__metadata__":{...}, "<name>":{"dtype","shape","data_offsets"}, ...}, padded with spaces),
// then the data section, which the tensors' [begin, end) offsets tile exactly.
#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <utility>

#include "base/crc32.hpp"
#include "base/file.hpp"
#include "io/json.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/io.hpp"

namespace vkhalf {

namespace {

using detail::quoted;

namespace json = detail::json;

// The reference implementation refuses larger headers; so do we, before allocating one.
constexpr uint64_t max_header_bytes = 100'000'000;
constexpr std::string_view metadata_key = "__metadata__";

struct DTypeInfo {
    std::string_view name;
    std::size_t size;
};

// In the reference implementation's dtype order, which increases with alignment: the writer sorts
// by this order (descending) so that every tensor's data starts at a multiple of its alignment.
constexpr std::array<DTypeInfo, 13> dtypes = {{{"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"I16", 2}, {"U16", 2},
                                               {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},
                                               {"F64", 8}, {"I64", 8}, {"U64", 8}}};

// Position in `dtypes`, or dtypes.size() when unknown.
std::size_t dtype_rank(std::string_view name) {
    for (std::size_t i = 0; i < dtypes.size(); ++i)
        if (dtypes[i].name == name) return i;
    return dtypes.size();
}

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

// numel(shape) * itemsize, or nullopt past 2^62 bytes (more than any file here can hold).
std::optional<uint64_t> byte_size(const std::vector<int64_t>& shape, std::size_t itemsize) {
    constexpr uint64_t limit = uint64_t(1) << 62;
    if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d == 0; })) return 0;
    uint64_t bytes = itemsize;
    for (const int64_t d : shape) {
        if (uint64_t(d) > limit / bytes) return std::nullopt;
        bytes *= uint64_t(d);
    }
    return bytes;
}

void append_u64_le(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// ---- writer ----

void check_tensor_for_writing(const std::string& path, const SafeTensor& t) {
    const std::string what = quoted(path) + ": tensor " + quoted(t.name);
    if (t.name.empty()) throw Error(quoted(path) + ": a tensor has an empty name");
    if (t.name == metadata_key) throw Error(what + ": the name is reserved for the metadata");
    if (!json::valid_utf8(t.name)) throw Error(quoted(path) + ": a tensor name is not valid UTF-8");
    const std::size_t rank = dtype_rank(t.dtype);
    if (rank == dtypes.size())
        throw DTypeError(what + ": unknown dtype \"" + t.dtype + "\" (known: F16 BF16 F32 F64 I8 I16 I32 I64 "
                         "U8 U16 U32 U64 BOOL)");
    if (std::any_of(t.shape.begin(), t.shape.end(), [](int64_t d) { return d < 0; }))
        throw ShapeError(what + ": negative dimension in shape " + shape_string(t.shape));
    const std::optional<uint64_t> need = byte_size(t.shape, dtypes[rank].size);
    if (need != t.data.size())
        throw ShapeError(what + ": " + t.dtype + " " + shape_string(t.shape) + " needs " +
                         (need ? std::to_string(*need) : "more than 2^62") + " bytes, data holds " +
                         std::to_string(t.data.size()));
}

std::string header_json(const std::vector<SafeTensor>& tensors, const std::map<std::string, std::string>& metadata) {
    std::string h = "{" + json::quote(metadata_key) + ":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
        h += (first ? "" : ",") + json::quote(key) + ":" + json::quote(value);
        first = false;
    }
    h += "}";
    uint64_t offset = 0;
    for (const SafeTensor& t : tensors) {
        h += "," + json::quote(t.name) + ":{\"dtype\":" + json::quote(t.dtype) + ",\"shape\":" +
             shape_string(t.shape) + ",\"data_offsets\":[" + std::to_string(offset) + ",";
        offset += t.data.size();
        h += std::to_string(offset) + "]}";
    }
    return h + "}";
}

} // namespace

std::size_t safetensors_dtype_size(std::string_view dtype) {
    const std::size_t rank = dtype_rank(dtype);
    return rank == dtypes.size() ? 0 : dtypes[rank].size;
}

const SafeTensor* SafetensorsFile::find(std::string_view name) const {
    for (const SafeTensor& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

void write_safetensors(const std::string& path, std::vector<SafeTensor> tensors,
                       std::map<std::string, std::string> metadata, SafetensorsWriteOptions options) {
    std::set<std::string_view> names;
    for (const SafeTensor& t : tensors) {
        check_tensor_for_writing(path, t);
        if (!names.insert(t.name).second) throw Error(quoted(path) + ": two tensors are named " + quoted(t.name));
    }
    // Descending alignment keeps every tensor aligned in the file; names make the order total.
    std::sort(tensors.begin(), tensors.end(), [](const SafeTensor& a, const SafeTensor& b) {
        const std::size_t ra = dtype_rank(a.dtype), rb = dtype_rank(b.dtype);
        return ra != rb ? ra > rb : a.name < b.name;
    });

    metadata.try_emplace("format", "pt");
    metadata.erase(std::string(safetensors_crc32_key));  // a stale checksum would fail the next read
    if (options.checksum) {
        uint32_t crc = 0;
        for (const SafeTensor& t : tensors) crc = detail::crc32_update(crc, t.data);
        metadata.emplace(safetensors_crc32_key, detail::crc32_hex(crc));
    }
    for (const auto& [key, value] : metadata)
        if (!json::valid_utf8(key) || !json::valid_utf8(value))
            throw Error(quoted(path) + ": a metadata key or value is not valid UTF-8");

    std::string header = header_json(tensors, metadata);
    header.resize((header.size() + 7) / 8 * 8, ' ');  // the data section starts 8-byte aligned
    if (header.size() > max_header_bytes)
        throw Error(quoted(path) + ": the header would be " + std::to_string(header.size()) +
                    " bytes, over the format's limit of " + std::to_string(max_header_bytes));
    std::string prefix;
    append_u64_le(prefix, header.size());

    detail::AtomicFileWriter out(path);
    out.write(std::as_bytes(std::span(prefix)));
    out.write(std::as_bytes(std::span(header)));
    for (const SafeTensor& t : tensors) out.write(t.data);
    out.commit();
}

namespace {

// ---- reader ----

// Where a tensor's data lies, as the header says.
struct Entry {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    uint64_t begin = 0;
    uint64_t end = 0;
};

class HeaderReader {
public:
    explicit HeaderReader(const std::string& path) : where_(quoted(path)) {}

    [[noreturn]] void fail(const std::string& what) const { throw IoError(where_ + ": " + what); }

    // Refuses an object with a key twice (`what` says whose keys they are).
    void check_unique_keys(const json::Value& object, const std::string& what) const {
        std::set<std::string_view> seen;
        for (const std::string& key : object.keys)
            if (!seen.insert(key).second) fail("duplicate " + what + " " + quoted(key));
    }

    std::map<std::string, std::string> metadata(const json::Value& v) const {
        if (!v.is_object()) fail("\"__metadata__\" is " + std::string(json::describe(v.kind)) + ", not an object");
        check_unique_keys(v, "metadata key");
        std::map<std::string, std::string> out;
        for (std::size_t i = 0; i < v.keys.size(); ++i) {
            if (v.items[i].kind != json::Value::Kind::string)
                fail("metadata " + quoted(v.keys[i]) + " is " + std::string(json::describe(v.items[i].kind)) +
                     ", not a string");
            out.emplace(v.keys[i], v.items[i].string);
        }
        return out;
    }

    Entry entry(const std::string& name, const json::Value& v) const {
        const std::string what = "tensor " + quoted(name);
        if (!v.is_object()) fail(what + " is " + std::string(json::describe(v.kind)) + ", not an object");
        check_unique_keys(v, what + " field");
        const json::Value* dtype = nullptr;
        const json::Value* shape = nullptr;
        const json::Value* offsets = nullptr;
        for (std::size_t i = 0; i < v.keys.size(); ++i) {
            if (v.keys[i] == "dtype") dtype = &v.items[i];
            else if (v.keys[i] == "shape") shape = &v.items[i];
            else if (v.keys[i] == "data_offsets") offsets = &v.items[i];
            else fail(what + " has an unknown field " + quoted(v.keys[i]));
        }
        if (!dtype) fail(what + " has no \"dtype\"");
        if (!shape) fail(what + " has no \"shape\"");
        if (!offsets) fail(what + " has no \"data_offsets\"");

        Entry e;
        e.name = name;
        if (dtype->kind != json::Value::Kind::string)
            fail(what + ": \"dtype\" is " + std::string(json::describe(dtype->kind)) + ", not a string");
        e.dtype = dtype->string;
        if (safetensors_dtype_size(e.dtype) == 0) fail(what + " has an unknown dtype \"" + e.dtype + "\"");
        e.shape = non_negative_integers(*shape, what + ": \"shape\"");
        const std::vector<int64_t> range = non_negative_integers(*offsets, what + ": \"data_offsets\"");
        if (range.size() != 2) fail(what + ": \"data_offsets\" has " + std::to_string(range.size()) + " entries, not 2");
        e.begin = uint64_t(range[0]);
        e.end = uint64_t(range[1]);
        if (e.end < e.begin) fail(what + ": \"data_offsets\" [" + std::to_string(e.begin) + "," +
                                  std::to_string(e.end) + "] end before begin");
        return e;
    }

private:
    std::string where_;

    std::vector<int64_t> non_negative_integers(const json::Value& v, const std::string& what) const {
        if (v.kind != json::Value::Kind::array)
            fail(what + " is " + std::string(json::describe(v.kind)) + ", not an array");
        std::vector<int64_t> out;
        for (const json::Value& item : v.items) {
            if (item.kind != json::Value::Kind::integer)
                fail(what + " holds " + std::string(json::describe(item.kind)) + ", not an integer");
            if (item.integer < 0) fail(what + " holds a negative number " + std::to_string(item.integer));
            out.push_back(item.integer);
        }
        return out;
    }
};

// Parses the crc32 metadata value: exactly 8 hex digits, either case.
bool parse_crc32(const std::string& text, uint32_t& crc) {
    if (text.size() != 8) return false;
    crc = 0;
    for (const char c : text) {
        uint32_t digit = 0;
        if (c >= '0' && c <= '9') digit = static_cast<uint32_t>(c - '0');
        else if (c >= 'a' && c <= 'f') digit = static_cast<uint32_t>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') digit = static_cast<uint32_t>(c - 'A' + 10);
        else return false;
        crc = crc << 4 | digit;
    }
    return true;
}

} // namespace

SafetensorsFile read_safetensors(const std::string& path) {
    detail::InputFile in(path);
    const HeaderReader reader(path);
    const uint64_t file_size = in.size();

    if (file_size < 8)
        reader.fail("file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");
    std::array<std::byte, 8> length_bytes{};
    in.read_exact(length_bytes, "the header length");
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = header_size << 8 | static_cast<uint64_t>(length_bytes[std::size_t(i)]);
    if (header_size > max_header_bytes)
        reader.fail("header length " + std::to_string(header_size) + " exceeds the limit of " +
                    std::to_string(max_header_bytes) + " bytes");
    if (header_size > file_size - 8)
        reader.fail("header length " + std::to_string(header_size) + " exceeds the " +
                    std::to_string(file_size - 8) + " bytes after the length field");

    std::string header(header_size, '\0');
    in.read_exact(std::as_writable_bytes(std::span(header)), "the header");
    if (header.empty() || header[0] != '{') reader.fail("header does not start with '{'");
    json::Value root;
    try {
        root = json::parse(header);
    } catch (const json::ParseError& e) {
        reader.fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!root.is_object()) reader.fail("header is not a JSON object");
    reader.check_unique_keys(root, "tensor name");

    SafetensorsFile out;
    std::vector<Entry> entries;
    for (std::size_t i = 0; i < root.keys.size(); ++i) {
        if (root.keys[i] == metadata_key) out.metadata = reader.metadata(root.items[i]);
        else entries.push_back(reader.entry(root.keys[i], root.items[i]));
    }

    // The offsets, in order, must tile [0, data_size) exactly, each range as long as its tensor.
    const uint64_t data_size = file_size - 8 - header_size;
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
    uint64_t next = 0;
    for (const Entry& e : entries) {
        const std::string what = "tensor " + quoted(e.name) + " at data_offsets [" + std::to_string(e.begin) + "," +
                                 std::to_string(e.end) + "]";
        if (e.begin > next)
            reader.fail(what + " leaves a hole: bytes [" + std::to_string(next) + "," + std::to_string(e.begin) +
                        ") belong to no tensor");
        if (e.begin < next)
            reader.fail(what + " overlaps the previous tensor, which ends at " + std::to_string(next));
        const std::optional<uint64_t> need = byte_size(e.shape, safetensors_dtype_size(e.dtype));
        if (need != e.end - e.begin)
            reader.fail(what + " spans " + std::to_string(e.end - e.begin) + " bytes, but " + e.dtype + " " +
                        shape_string(e.shape) + " needs " + (need ? std::to_string(*need) : "more than 2^62"));
        next = e.end;
    }
    if (next != data_size)
        reader.fail("the tensors end at byte " + std::to_string(next) + " of the data section, which holds " +
                    std::to_string(data_size) + " bytes (file size " + std::to_string(file_size) + ")");

    // Data, in file order, checksummed as it is read.
    uint32_t crc = 0;
    for (Entry& e : entries) {
        SafeTensor t{std::move(e.name), std::move(e.dtype), std::move(e.shape), {}};
        t.data.resize(static_cast<std::size_t>(e.end - e.begin));
        in.read_exact(t.data, "the data of tensor " + quoted(t.name));
        crc = detail::crc32_update(crc, t.data);
        out.tensors.push_back(std::move(t));
    }
    if (const auto it = out.metadata.find(std::string(safetensors_crc32_key)); it != out.metadata.end()) {
        uint32_t stored = 0;
        if (!parse_crc32(it->second, stored))
            reader.fail("metadata " + std::string(safetensors_crc32_key) + " \"" + it->second +
                        "\" is not 8 hex digits");
        if (stored != crc)
            reader.fail("checksum mismatch: metadata " + std::string(safetensors_crc32_key) + " is " + it->second +
                        ", the data's CRC-32 is " + detail::crc32_hex(crc));
    }
    return out;
}

} // namespace vkhalf
