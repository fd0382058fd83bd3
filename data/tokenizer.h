// data/tokenizer.h: caption text -> 16 token ids (reference-model.md, "Data").
//
//   "A thick, slanted Seven!" -> words [a, thick, slanted, seven]
//                             -> [<bos>, a, thick, slanted, seven, <pad> x 11]
// Words: the text is lower-cased (ASCII) and split at every character that is not a
// letter, digit or apostrophe (so punctuation and hyphens separate words). <bos> always
// comes first, at most kMaxCaptionWords words follow, the rest is <pad>. A word not in
// the vocabulary becomes <unk>; the result lists such words so callers can warn.
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

struct Tokens {
  std::array<int32_t, kContextLength> ids{};  // <bos>, words, <pad>...
  std::vector<std::string> unknown_words;     // in order, without repeats
  int64_t dropped_words = 0;                  // words past the 15th, not encoded
  bool ok() const { return unknown_words.empty() && dropped_words == 0; }
  // "caption 'a cat': unknown words mapped to <unk>: 'cat'"; empty when ok().
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

}  // namespace ld::data
