// Runs a fuzz target's LLVMFuzzerTestOneInput over files without libFuzzer, so every build (GCC
// included) checks the seed corpus and the regression inputs. Arguments: files or directories
// (all regular files inside, recursively, in sorted order). A crash or abort is the failure; an
// argument that yields no file at all fails too, so a missing corpus cannot pass silently.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size);

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> files_under(const fs::path& arg) {
    std::vector<fs::path> out;
    if (fs::is_regular_file(arg)) out.push_back(arg);
    else if (fs::is_directory(arg))
        for (const auto& entry : fs::recursive_directory_iterator(arg))
            if (entry.is_regular_file()) out.push_back(entry.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    std::size_t total = 0;
    for (int i = 1; i < argc; ++i) {
        const std::vector<fs::path> files = files_under(argv[i]);
        if (files.empty()) {
            std::fprintf(stderr, "%s: no input files\n", argv[i]);
            return 1;
        }
        for (const fs::path& f : files) {
            const std::vector<uint8_t> bytes = read_bytes(f);
            LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
            ++total;
        }
    }
    std::printf("replayed %zu inputs\n", total);
    return 0;
}
