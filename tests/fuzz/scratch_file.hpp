#pragma once
// The readers under fuzzing take a path, so each input is written to one scratch file per process
// (in /dev/shm when it exists: no disk traffic per execution), removed when the process exits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

namespace vkhalf::fuzz {

class ScratchFile {
public:
    // `suffix` ends the file name (".gz", ...), for messages only: the readers look at the bytes.
    explicit ScratchFile(const std::string& suffix = "");
    ~ScratchFile();
    ScratchFile(const ScratchFile&) = delete;
    ScratchFile& operator=(const ScratchFile&) = delete;

    const std::string& path() const { return path_; }
    // Replaces the file's contents with `bytes`; aborts when it cannot (not the input's fault).
    void write(std::span<const uint8_t> bytes) const;

private:
    std::string path_;
};

} // namespace vkhalf::fuzz
