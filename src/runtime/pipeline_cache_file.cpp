#include "runtime/pipeline_cache_file.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <unistd.h>

#include "base/crc32.hpp"
#include "base/file.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

constexpr char kMagic[8] = {'V', 'K', 'H', 'A', 'L', 'F', 'P', 'C'};
constexpr uint32_t kFormat = 1;

struct Header {
    char magic[8];
    uint32_t format;
    uint32_t crc32;    // of the data
    uint64_t bytes;    // of the data
};
static_assert(sizeof(Header) == 24);

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

} // namespace

std::string pipeline_cache_dir(const std::optional<std::string>& configured) {
    if (configured) return *configured;
    if (const char* off = env("VKHALF_PIPELINE_CACHE"); off && std::strcmp(off, "0") == 0) return "";
    if (const char* dir = env("VKHALF_PIPELINE_CACHE_DIR")) return dir;
    if (const char* xdg = env("XDG_CACHE_HOME")) return std::string(xdg) + "/vkhalf";
    if (const char* home = env("HOME")) return std::string(home) + "/.cache/vkhalf";
    return "";
}

std::string pipeline_cache_file(const std::string& dir, const VkPhysicalDeviceProperties& props) {
    if (dir.empty()) return "";
    char name[128];
    std::snprintf(name, sizeof name, "pipelines-%04x-%04x-%08x-", props.vendorID, props.deviceID, props.driverVersion);
    std::string path = dir + "/" + name;
    for (uint8_t b : props.pipelineCacheUUID) {
        std::snprintf(name, sizeof name, "%02x", b);
        path += name;
    }
    return path + ".bin";
}

std::vector<std::byte> read_pipeline_cache(const std::string& path) {
    if (path.empty()) return {};
    try {
        InputFile file(path);
        Header h{};
        if (file.size() < sizeof h) return {};
        file.read_exact(std::as_writable_bytes(std::span(&h, 1)), "the header");
        if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.format != kFormat || h.bytes != file.size() - sizeof h)
            return {};
        std::vector<std::byte> data(h.bytes);
        file.read_exact(data, "the pipeline cache");
        if (crc32_update(0, data) != h.crc32) return {};
        return data;
    } catch (const Error&) {  // missing or unreadable: an empty cache
        return {};
    }
}

void write_pipeline_cache(const std::string& path, const std::vector<std::byte>& data) {
    if (path.empty() || data.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    if (ec) throw IoError(path + ": cannot create its directory: " + ec.message());
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.format = kFormat;
    h.crc32 = crc32_update(0, data);
    h.bytes = data.size();
    AtomicFileWriter out(path, ".tmp." + std::to_string(getpid()));  // processes may save at once: last rename wins
    out.write(std::as_bytes(std::span(&h, 1)));
    out.write(data);
    out.commit();
}

} // namespace vkhalf::detail
