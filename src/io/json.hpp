#pragma once
// A small, strict JSON parser and string quoting, enough for safetensors headers (RFC 8259).
// Strict: no comments, trailing commas, leading zeros, raw control characters, invalid UTF-8 or
// lone surrogates. Integers are kept exactly (int64); other numbers, booleans and null are parsed
// only so that their users can refuse them with a message saying what was found.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vkhalf::detail::json {

struct Value {
    enum class Kind { null, boolean, integer, real, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    int64_t integer = 0;
    std::string string;                // string
    std::vector<Value> items;          // array elements, or object values
    std::vector<std::string> keys;     // object keys, parallel to items, in file order, duplicates kept

    bool is_object() const { return kind == Kind::object; }
};

// "an integer", "a string", ... for messages.
std::string_view describe(Value::Kind kind);

// What went wrong and where (byte offset into the parsed text).
class ParseError : public std::runtime_error {
public:
    ParseError(const std::string& what, std::size_t offset)
        : std::runtime_error(what + " at byte " + std::to_string(offset)), offset_(offset) {}
    std::size_t offset() const { return offset_; }
private:
    std::size_t offset_;
};

// Nesting deeper than this is refused rather than risking the stack.
inline constexpr int max_depth = 64;

// Parses one JSON value filling `text` (whitespace around it allowed). Throws ParseError.
Value parse(std::string_view text);

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s);

// `s` as a JSON string literal, quotes included, escaped as serde_json does (\" \\ \b \f \n \r \t,
// other control characters as \u00XX, everything else verbatim).
std::string quote(std::string_view s);

} // namespace vkhalf::detail::json
