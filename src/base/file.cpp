// POSIX file handling: fstat for sizes, fsync and rename for durable replacement.
#include "base/file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vkhalf/error.hpp"

namespace vkhalf::detail {

void throw_io_error(const std::string& path, const std::string& what, int err) {
    throw IoError("'" + path + "': " + what + ": " + std::strerror(err));
}

InputFile::InputFile(std::string path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (!file_) throw_io_error(path_, "cannot open for reading", errno);
    struct stat st {};
    if (fstat(fileno(file_), &st) != 0) {
        const int err = errno;
        std::fclose(file_);
        throw_io_error(path_, "cannot stat", err);
    }
    if (S_ISDIR(st.st_mode)) {
        std::fclose(file_);
        throw IoError("'" + path_ + "': is a directory, not a file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() {
    if (file_) std::fclose(file_);
}

void InputFile::rewind() {
    if (std::fseek(file_, 0, SEEK_SET) != 0) throw_io_error(path_, "cannot seek", errno);
}

std::size_t InputFile::read_some(std::span<std::byte> bytes) {
    const std::size_t n = std::fread(bytes.data(), 1, bytes.size(), file_);
    if (n < bytes.size() && std::ferror(file_)) throw_io_error(path_, "read error", errno);
    return n;
}

void InputFile::read_exact(std::span<std::byte> bytes, const std::string& what) {
    const std::size_t n = read_some(bytes);
    if (n != bytes.size())
        throw IoError("'" + path_ + "': truncated while reading " + what + " (the file changed while being read?)");
}

AtomicFileWriter::AtomicFileWriter(std::string path, const std::string& temp_suffix)
    : path_(std::move(path)), temp_path_(path_ + temp_suffix) {
    file_ = std::fopen(temp_path_.c_str(), "wb");
    if (!file_) throw_io_error(temp_path_, "cannot create the temporary file for '" + path_ + "'", errno);
}

AtomicFileWriter::~AtomicFileWriter() {
    if (file_) {
        std::fclose(file_);
        std::remove(temp_path_.c_str());
    }
}

void AtomicFileWriter::write(std::span<const std::byte> bytes) {
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
        throw_io_error(temp_path_, "write failed", errno);
}

void AtomicFileWriter::commit() {
    // Data reaches the disk before the rename makes it visible under path: a crash leaves either
    // the old file or the complete new one, never a partial one.
    if (std::fflush(file_) != 0) throw_io_error(temp_path_, "write failed", errno);
    if (fsync(fileno(file_)) != 0) throw_io_error(temp_path_, "fsync failed", errno);
    std::FILE* f = std::exchange(file_, nullptr);
    if (std::fclose(f) != 0) {
        const int err = errno;
        std::remove(temp_path_.c_str());
        throw_io_error(temp_path_, "close failed", err);
    }
    if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
        const int err = errno;
        std::remove(temp_path_.c_str());
        throw_io_error(path_, "cannot rename '" + temp_path_ + "' over it", err);
    }
    // The rename itself lives in the directory: sync it too, or a crash may forget it.
    std::string dir = std::filesystem::path(path_).parent_path().string();
    if (dir.empty()) dir = ".";
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) throw_io_error(dir, "saved '" + path_ + "' but cannot open its directory to sync it", errno);
    const int rc = fsync(fd);
    const int err = errno;
    close(fd);
    // Some file systems cannot sync directories (EINVAL); the file itself is complete there.
    if (rc != 0 && err != EINVAL) throw_io_error(dir, "saved '" + path_ + "' but cannot sync its directory", err);
}

} // namespace vkhalf::detail
