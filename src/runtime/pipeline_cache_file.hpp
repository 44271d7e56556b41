#pragma once
// The pipeline cache on disk, so a second run does not compile its pipelines again (seconds on a
// GPU driver for the GEMM and convolution variants). One file per device and driver:
//   <dir>/pipelines-<vendor>-<device>-<driver version>-<pipelineCacheUUID>.bin
// holding a small header (magic, format, size, CRC-32) and the driver's VkPipelineCache data.
// Everything here is best effort: a missing, foreign or corrupt file is an empty cache, and a
// file that cannot be written is not written. Training never fails because of the cache.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "runtime/vk.hpp"

namespace vkhalf::detail {

// The directory: `configured` when set (empty: no cache on disk), else VKHALF_PIPELINE_CACHE_DIR,
// else $XDG_CACHE_HOME/vkhalf, else $HOME/.cache/vkhalf; none with VKHALF_PIPELINE_CACHE=0 or
// when no directory can be found (e.g. on Android without the variable).
std::string pipeline_cache_dir(const std::optional<std::string>& configured);

// The file for this device inside dir ("" when dir is "").
std::string pipeline_cache_file(const std::string& dir, const VkPhysicalDeviceProperties& props);

// The driver data stored at path, or nothing when the file is missing, truncated, corrupt or of
// another format.
std::vector<std::byte> read_pipeline_cache(const std::string& path);

// Writes data atomically (temporary file, rename), creating the directory. Throws IoError; the
// Context catches it, since a cache that cannot be saved costs only time.
void write_pipeline_cache(const std::string& path, const std::vector<std::byte>& data);

} // namespace vkhalf::detail
