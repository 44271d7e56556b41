// Fuzz target: read_safetensors on arbitrary bytes. It may fail only with a vkhalf::Error; what it
// accepts must hold what the API promises (unique names, known dtypes, data sized by the shape) and
// survive a round trip through write_safetensors unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <span>
#include <string>

#include <vkhalf/error.hpp>
#include <vkhalf/io.hpp>

#include "scratch_file.hpp"

namespace {

// numel(shape) * itemsize for a tensor read_safetensors accepted (it checked for overflow).
std::size_t expected_bytes(const vkhalf::SafeTensor& t) {
    std::size_t n = vkhalf::safetensors_dtype_size(t.dtype);
    for (const int64_t d : t.shape) n *= static_cast<std::size_t>(d);
    return n;
}

void check_promises(const vkhalf::SafetensorsFile& file) {
    std::set<std::string> names;
    for (const vkhalf::SafeTensor& t : file.tensors) {
        if (!names.insert(t.name).second) std::abort();
        if (vkhalf::safetensors_dtype_size(t.dtype) == 0) std::abort();
        for (const int64_t d : t.shape)
            if (d < 0) std::abort();
        if (t.data.size() != expected_bytes(t)) std::abort();
    }
}

bool same_tensors(const vkhalf::SafetensorsFile& a, const vkhalf::SafetensorsFile& b) {
    if (a.tensors.size() != b.tensors.size()) return false;
    for (const vkhalf::SafeTensor& t : a.tensors) {
        const vkhalf::SafeTensor* u = b.find(t.name);
        if (!u || u->dtype != t.dtype || u->shape != t.shape || u->data != t.data) return false;
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    static const vkhalf::fuzz::ScratchFile input(".safetensors");
    static const vkhalf::fuzz::ScratchFile rewritten(".safetensors");
    input.write(std::span<const uint8_t>(data, size));

    vkhalf::SafetensorsFile file;
    try {
        file = vkhalf::read_safetensors(input.path());
    } catch (const vkhalf::Error&) {
        return 0;  // refused with a message: what the reader is for
    }
    check_promises(file);

    // The writer may refuse what the reader accepts (it is stricter about names); what it writes,
    // the reader must read back as it was.
    try {
        vkhalf::write_safetensors(rewritten.path(), file.tensors, file.metadata);
    } catch (const vkhalf::Error&) {
        return 0;
    }
    if (!same_tensors(file, vkhalf::read_safetensors(rewritten.path()))) std::abort();
    return 0;
}
