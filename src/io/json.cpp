// Recursive-descent JSON parser with a depth limit; see json.hpp for what "strict" means here.
#include "io/json.hpp"

#include <limits>

namespace vkhalf::detail::json {

namespace {

// Length of the UTF-8 sequence starting at s[i] when it is well formed, else 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
    if (b0 >= 0xc2 && b0 <= 0xdf) n = 2;
    else if (b0 == 0xe0) n = 3, lo = 0xa0;                   // no overlong 3-byte forms
    else if (b0 >= 0xe1 && b0 <= 0xec) n = 3;
    else if (b0 == 0xed) n = 3, hi = 0x9f;                   // no UTF-16 surrogates
    else if (b0 >= 0xee && b0 <= 0xef) n = 3;
    else if (b0 == 0xf0) n = 4, lo = 0x90;                   // no overlong 4-byte forms
    else if (b0 >= 0xf1 && b0 <= 0xf3) n = 4;
    else if (b0 == 0xf4) n = 4, hi = 0x8f;                   // nothing past U+10FFFF
    else return 0;
    if (s.size() - i < n) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
    return n;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    Value parse_document() {
        skip_whitespace();
        Value v = parse_value(0);
        skip_whitespace();
        if (pos_ != text_.size()) fail("unexpected text after the JSON value");
        return v;
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;

    [[noreturn]] void fail(const std::string& what) const { throw ParseError(what, pos_); }

    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }

    void skip_whitespace() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
    }

    void expect(char c) {
        if (at_end()) fail(std::string("unexpected end of text, expected '") + c + "'");
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++pos_;
    }

    Value parse_value(int depth) {
        if (at_end()) fail("unexpected end of text, expected a value");
        switch (peek()) {
        case '{': return parse_object(depth + 1);
        case '[': return parse_array(depth + 1);
        case '"': {
            Value v;
            v.kind = Value::Kind::string;
            v.string = parse_string();
            return v;
        }
        case 't': return parse_literal("true", Value::Kind::boolean, true);
        case 'f': return parse_literal("false", Value::Kind::boolean, false);
        case 'n': return parse_literal("null", Value::Kind::null, false);
        default:
            if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number();
            fail("unexpected character, expected a value");
        }
    }

    Value parse_literal(std::string_view word, Value::Kind kind, bool boolean) {
        if (text_.substr(pos_, word.size()) != word) fail("invalid literal");
        pos_ += word.size();
        Value v;
        v.kind = kind;
        v.boolean = boolean;
        return v;
    }

    Value parse_object(int depth) {
        if (depth > max_depth) fail("nesting deeper than " + std::to_string(max_depth) + " levels");
        expect('{');
        Value v;
        v.kind = Value::Kind::object;
        skip_whitespace();
        if (peek() == '}') {
            ++pos_;
            return v;
        }
        for (;;) {
            skip_whitespace();
            if (peek() != '"') fail(at_end() ? "unexpected end of text, expected a key" : "expected a string key");
            v.keys.push_back(parse_string());
            skip_whitespace();
            expect(':');
            skip_whitespace();
            v.items.push_back(parse_value(depth));
            skip_whitespace();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect('}');
            return v;
        }
    }

    Value parse_array(int depth) {
        if (depth > max_depth) fail("nesting deeper than " + std::to_string(max_depth) + " levels");
        expect('[');
        Value v;
        v.kind = Value::Kind::array;
        skip_whitespace();
        if (peek() == ']') {
            ++pos_;
            return v;
        }
        for (;;) {
            skip_whitespace();
            v.items.push_back(parse_value(depth));
            skip_whitespace();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect(']');
            return v;
        }
    }

    uint32_t parse_hex4() {
        if (text_.size() - pos_ < 4) fail("unexpected end of text in a \\u escape");
        uint32_t value = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = text_[pos_];
            uint32_t digit = 0;
            if (c >= '0' && c <= '9') digit = static_cast<uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') digit = static_cast<uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') digit = static_cast<uint32_t>(c - 'A' + 10);
            else fail("invalid hex digit in a \\u escape");
            value = value * 16 + digit;
            ++pos_;
        }
        return value;
    }

    std::string parse_string() {
        expect('"');
        std::string out;
        for (;;) {
            if (at_end()) fail("unterminated string");
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20) fail("raw control character in a string");
            if (c == '\\') {
                ++pos_;
                if (at_end()) fail("unterminated escape");
                const char e = text_[pos_++];
                switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = parse_hex4();
                    if (cp >= 0xdc00 && cp <= 0xdfff) fail("lone low surrogate in a \\u escape");
                    if (cp >= 0xd800 && cp <= 0xdbff) {
                        // A high surrogate must be followed by an escaped low one: together one code point.
                        if (text_.substr(pos_, 2) != "\\u") fail("high surrogate without a low surrogate");
                        pos_ += 2;
                        const uint32_t low = parse_hex4();
                        if (low < 0xdc00 || low > 0xdfff) fail("high surrogate without a low surrogate");
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: --pos_; fail("invalid escape");
                }
                continue;
            }
            const std::size_t n = utf8_sequence_length(text_, pos_);
            if (n == 0) fail("invalid UTF-8 in a string");
            out.append(text_.substr(pos_, n));
            pos_ += n;
        }
    }

    Value parse_number() {
        const std::size_t start = pos_;
        const bool negative = peek() == '-';
        if (negative) ++pos_;
        if (at_end() || peek() < '0' || peek() > '9') fail("expected a digit");
        if (peek() == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
            fail("leading zero in a number");
        // Accumulate the magnitude as unsigned so that INT64_MIN is representable.
        const uint64_t limit = negative ? uint64_t(std::numeric_limits<int64_t>::max()) + 1
                                        : uint64_t(std::numeric_limits<int64_t>::max());
        uint64_t magnitude = 0;
        bool overflow = false;
        while (!at_end() && peek() >= '0' && peek() <= '9') {
            const auto digit = static_cast<uint64_t>(peek() - '0');
            if (magnitude > (limit - digit) / 10) overflow = true;
            else magnitude = magnitude * 10 + digit;
            ++pos_;
        }
        bool real = false;
        if (peek() == '.') {
            real = true;
            ++pos_;
            if (at_end() || peek() < '0' || peek() > '9') fail("expected a digit after the decimal point");
            while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
        }
        if (peek() == 'e' || peek() == 'E') {
            real = true;
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (at_end() || peek() < '0' || peek() > '9') fail("expected a digit in the exponent");
            while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
        }
        Value v;
        if (real) {
            v.kind = Value::Kind::real;
            return v;
        }
        if (overflow) {
            pos_ = start;
            fail("integer out of the 64-bit range");
        }
        v.kind = Value::Kind::integer;
        v.integer = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
        return v;
    }
};

} // namespace

std::string_view describe(Value::Kind kind) {
    switch (kind) {
    case Value::Kind::null: return "null";
    case Value::Kind::boolean: return "a boolean";
    case Value::Kind::integer: return "an integer";
    case Value::Kind::real: return "a non-integer number";
    case Value::Kind::string: return "a string";
    case Value::Kind::array: return "an array";
    case Value::Kind::object: return "an object";
    }
    return "?";
}

Value parse(std::string_view text) { return Parser(text).parse_document(); }

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string quote(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xf];
            } else {
                out += ch;
            }
        }
    }
    out += '"';
    return out;
}

} // namespace vkhalf::detail::json
