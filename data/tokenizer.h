// data/tokenizer.h: caption text -> 16 token ids (reference-model.md, "Data").
//
//   "A thick, slanted Seven!" -> words [a, thick, slanted, seven]
//                             -> [<bos>, a, thick, slanted, seven, <pad> x 11]
// Words: the text (UTF-8) is lower-cased (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic:
// data/unicode_case.h) and split at every character that is not a
// letter, digit or apostrophe (so punctuation and hyphens separate words). <bos> always
// comes first, at most kMaxCaptionWords words follow, the rest is <pad>. A word not in
// the vocabulary becomes <unk>; the result lists such words so callers can warn.
// Characters beyond ASCII are never dropped silently:
//   letters of any script (é, семь, 七) are part of words, so such a word is an unknown word
//     (-> <unk>, listed): "a digit семь" is [a, digit, <unk>], not [a, digit];
//   ’ (U+2019) is an apostrophe; spaces, dashes, quotes, the ellipsis and other punctuation
//     (U+00A0, U+2000-U+206F, U+3000-U+303F, ...) separate words, like ASCII punctuation;
//   symbols, emoji, control characters and invalid bytes are ignored but listed in
//     ignored_chars, so callers warn about them too.
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "data/vocab.h"
#include "tensor/tensor.h"

namespace ld::data {

inline constexpr int kContextLength = 16;                    // token positions
inline constexpr int kMaxCaptionWords = kContextLength - 1;  // after <bos>

std::vector<std::string> split_words(std::string_view text);
// split_words, also listing the characters it ignores (see above).
std::vector<std::string> split_words(std::string_view text, std::vector<std::string>& ignored_chars);

struct Tokens {
  std::array<int32_t, kContextLength> ids{};  // <bos>, words, <pad>...
  std::vector<std::string> unknown_words;     // in order, without repeats
  std::vector<std::string> ignored_chars;     // symbols, emoji, controls: in order, without repeats
  int64_t dropped_words = 0;                  // words past the 15th, not encoded
  int64_t words = 0;                          // words found (encoded or not)
  bool ok() const { return unknown_words.empty() && ignored_chars.empty() && dropped_words == 0; }
  // True when no position holds a vocabulary word: the model would see no more than <bos>/<unk>.
  bool no_known_word() const;
  // "caption 'a cat': unknown words mapped to <unk>: 'cat'"; empty when ok(). One line.
  std::string warning(std::string_view text) const;
};

Tokens tokenize(const Vocabulary& vocab, std::string_view text);

// Words of the ids, without <bos> and <pad>: detokenize(tokenize(t)) == join(split_words(t))
// when every word is known and there are at most 15.
std::string detokenize(const Vocabulary& vocab, const int32_t* ids, int64_t n = kContextLength);

struct TokenBatch {
  Tensor ids;                         // I32 (B, 16)
  std::vector<std::string> warnings;  // one per caption that had unknown or dropped words
};
TokenBatch tokenize_batch(const Vocabulary& vocab, const std::vector<std::string>& texts);

// What the tokenizer could not represent over many captions (a training set), for ONE warning
// line per run instead of one per caption: up to max_listed distinct unknown words (most frequent
// first) and a count of the rest, ignored characters, captions cut at 15 words.
class TokenReport {
 public:
  void add(const Tokens& t);
  bool ok() const { return captions_with_problems_ == 0; }
  // "<what>: 3 of 40 captions have words the vocabulary lacks, mapped to <unk>: 'purple' (2x),
  // 'tall' (1x); ..."; empty when ok().
  std::string warning(const std::string& what, size_t max_listed = 10) const;

 private:
  std::vector<std::pair<std::string, int64_t>> unknown_, ignored_;  // first-seen order, counts
  int64_t captions_ = 0, captions_with_problems_ = 0, captions_with_unknown_ = 0, cut_captions_ = 0;
};

}  // namespace ld::data
