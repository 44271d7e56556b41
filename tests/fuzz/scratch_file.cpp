#include "scratch_file.hpp"

#include <cstdio>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

namespace vkhalf::fuzz {

namespace {

[[noreturn]] void die(const std::string& what, const std::string& path) {
    std::perror((what + " " + path).c_str());
    std::abort();
}

std::string scratch_dir() {
    std::error_code ec;
    if (std::filesystem::is_directory("/dev/shm", ec)) return "/dev/shm";
    return std::filesystem::temp_directory_path().string();
}

} // namespace

ScratchFile::ScratchFile(const std::string& suffix) {
    std::string pattern = scratch_dir() + "/vkhalf-fuzz-XXXXXX" + suffix;
    const int fd = mkstemps(pattern.data(), static_cast<int>(suffix.size()));
    if (fd < 0) die("cannot create a scratch file like", pattern);
    close(fd);
    path_ = pattern;
}

ScratchFile::~ScratchFile() { std::remove(path_.c_str()); }

void ScratchFile::write(std::span<const uint8_t> bytes) const {
    const int fd = open(path_.c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0) die("cannot open", path_);
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) die("cannot write", path_);
        done += static_cast<std::size_t>(n);
    }
    close(fd);
}

} // namespace vkhalf::fuzz
