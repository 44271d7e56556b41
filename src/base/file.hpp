#pragma once
// Files for every reader and writer (src/io's formats, the runtime's pipeline cache, checkpoints):
// every failure is an IoError naming the path and the system's reason. src/base sits below the
// runtime and knows nothing of it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

namespace vkhalf::detail {

// A regular file opened for reading.
class InputFile {
public:
    // IoError when the file is missing, unreadable or a directory.
    explicit InputFile(std::string path);
    ~InputFile();
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    const std::string& path() const { return path_; }
    uint64_t size() const { return size_; }  // at opening
    void rewind();

    // Reads up to bytes.size() bytes and returns how many; fewer only at the end of the file.
    std::size_t read_some(std::span<std::byte> bytes);
    // Reads exactly bytes.size() bytes; IoError "<path>: truncated while reading <what>" otherwise.
    void read_exact(std::span<std::byte> bytes, const std::string& what);

private:
    std::string path_;
    std::FILE* file_ = nullptr;
    uint64_t size_ = 0;
};

// Replaces a file all at once: bytes go to "<path>.tmp" in the same directory, and commit() syncs
// them, renames the temporary file over path and syncs the directory. Until commit() returns, the
// previous file at path (if any) is untouched; a writer destroyed without commit() removes the
// temporary file.
class AtomicFileWriter {
public:
    // temp_suffix: what names the temporary file after path; give each process its own when
    // several may write the same file at once (the pipeline cache).
    explicit AtomicFileWriter(std::string path, const std::string& temp_suffix = ".tmp");
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    void write(std::span<const std::byte> bytes);
    void commit();

private:
    std::string path_;
    std::string temp_path_;
    std::FILE* file_ = nullptr;
};

// "'<path>'": how the readers' messages name a file (or a tensor).
inline std::string quoted(const std::string& path) { return "'" + path + "'"; }

// "<path>: <what>: <strerror(errno)>"
[[noreturn]] void throw_io_error(const std::string& path, const std::string& what, int err);

} // namespace vkhalf::detail
