#pragma once
// Host-side file formats of the sample trainer: IDX (the MNIST family's datasets, plain or gzip)
// and safetensors (checkpoints). Everything here runs on the CPU; nothing needs a Context.
//
// Readers trust nothing in a file: every header field is checked before it sizes an allocation,
// and a bad file gets an IoError (DTypeError, ShapeError where those say more) whose message
// names the file and what is wrong with it.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vkhalf {

// ---- IDX -------------------------------------------------------------------------------------

// An IDX array of unsigned bytes: dims as the header lists them, data row-major.
struct IdxArray {
    std::vector<int64_t> dims;
    std::vector<uint8_t> data;
};

// More data than this is refused (the largest MNIST-family file holds 47 MB).
inline constexpr int64_t idx_max_data_bytes = int64_t(1) << 31;

// Reads an IDX file, gzip-compressed (detected by its 0x1f 0x8b magic) or plain. The magic must be
// 0x000008NN: element type 0x08 (unsigned byte; any other type is a DTypeError) and NN dims, each
// > 0, followed by exactly their product of bytes. IoError for a missing or unreadable file, a bad
// magic, a truncated or over-long file, a corrupt gzip stream or data over idx_max_data_bytes.
IdxArray read_idx(const std::string& path);

// One split of an MNIST-format dataset (MNIST, Fashion-MNIST): count images of rows x cols bytes
// (0 = background) and one label in [0, mnist_classes) per image.
struct MnistSplit {
    std::vector<uint8_t> images;  // count * rows * cols, image after image
    std::vector<uint8_t> labels;  // count
    int64_t count = 0;
    int64_t rows = 0;
    int64_t cols = 0;
};

inline constexpr int mnist_classes = 10;

// Reads <dir>/<split>-images-idx3-ubyte and <dir>/<split>-labels-idx1-ubyte, each with ".gz"
// first, then without; split is "train" or "t10k". Images must have rank 3 and labels rank 1
// (ShapeError), both the same count (ShapeError naming both files), every label < mnist_classes
// (IoError naming the file, the index and the value).
MnistSplit load_mnist_split(const std::string& dir, const std::string& split);

// ---- safetensors -----------------------------------------------------------------------------

// One tensor of a safetensors file. dtype is the format's name ("F16", "F32", "U32", "I64", ...);
// data holds numel(shape) * itemsize bytes, little-endian, row-major.
struct SafeTensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> data;
};

struct SafetensorsFile {
    std::vector<SafeTensor> tensors;              // in the order of their data in the file
    std::map<std::string, std::string> metadata;  // "__metadata__", as stored (checksum included)

    // The tensor named `name`, or nullptr.
    const SafeTensor* find(std::string_view name) const;
};

// Bytes per element of a safetensors dtype: F16 BF16 F32 F64 I8 I16 I32 I64 U8 U16 U32 U64 BOOL.
// 0 for any other name.
std::size_t safetensors_dtype_size(std::string_view dtype);

// Metadata key of the CRC-32 (8 lowercase hex digits) of a file's data section. write_safetensors
// adds it; read_safetensors verifies it when present.
inline constexpr std::string_view safetensors_crc32_key = "vkhalf.crc32";

struct SafetensorsWriteOptions {
    // Store the data section's CRC-32 under safetensors_crc32_key (off: the file is byte-identical
    // to the reference writer's).
    bool checksum = true;
};

// Writes a safetensors file as the reference writer lays it out: tensors sorted by dtype alignment
// (descending; dtypes of equal alignment in the reference's fixed order), then by name; the header
// padded with spaces to a multiple of 8 bytes; metadata always holding "format" ("pt" unless
// given). The file is written to "<path>.tmp", synced, renamed over path and the directory synced,
// so a save that fails or is interrupted leaves any previous file intact.
// DTypeError for an unknown dtype, ShapeError when a tensor's bytes do not match its shape,
// Error for an empty, duplicate or reserved ("__metadata__") name or invalid UTF-8, IoError when
// the file cannot be written.
void write_safetensors(const std::string& path, std::vector<SafeTensor> tensors,
                       std::map<std::string, std::string> metadata = {}, SafetensorsWriteOptions options = {});

// Reads and validates a whole safetensors file: header length within the file and at most
// 100,000,000 bytes, a strict JSON header, every tensor with a known dtype, a shape and data
// offsets that tile the data section exactly (no holes, overlaps or trailing bytes), unique names,
// and the checksum when present. IoError naming the file and the problem otherwise.
SafetensorsFile read_safetensors(const std::string& path);

} // namespace vkhalf
