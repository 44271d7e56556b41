#pragma once
// What the sample programs share on their command lines: usage errors, numbers, where the
// executable is (defaults beside it), and floats written so they read back exactly.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <type_traits>

namespace cli {

// The exit status a finished run ends with: 1 when the Context received validation messages
// (each was printed as it came; a run with the layer on that made any is a failed run), else 0.
template <typename Context>
int validation_verdict(const char* program, const Context& ctx) {
    if (ctx.validation_message_count() == 0) return 0;
    std::fprintf(stderr, "%s: %zu validation message(s) in this run (printed above): failing it\n", program,
                 ctx.validation_message_count());
    return 1;
}

// "<program>: <what> (see --help)" on stderr, exit status 2.
[[noreturn]] inline void usage_error(const char* program, const std::string& what) {
    std::fprintf(stderr, "%s: %s (see --help)\n", program, what.c_str());
    std::exit(2);
}

// The value of `flag`: a finite number, for integral T also a non-negative whole one.
template <typename T>
T number(const char* program, const std::string& flag, const char* text) {
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || !std::isfinite(v))
        usage_error(program, flag + " expects a number, got '" + text + "'");
    if constexpr (std::is_integral_v<T>)
        if (v < 0 || v != std::floor(v)) usage_error(program, flag + " expects a non-negative integer, got '" + text + "'");
    return static_cast<T>(v);
}

// The running executable: /proc/self/exe on Linux and Android, argv[0] elsewhere (may be empty).
inline std::filesystem::path executable_path(const char* argv0) {
    std::error_code ec;
    std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec || exe.empty()) exe = argv0 ? std::filesystem::path(argv0) : std::filesystem::path();
    return exe;
}

// A number in decimal that reads back as the same float (nine significant digits).
inline std::string exact(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

} // namespace cli
