// data/tokenizer.cpp: word-level tokenizer (rules in tokenizer.h).
#include "data/tokenizer.h"

#include <algorithm>

#include "tensor/error.h"

namespace ld::data {

static bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'';
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : text) {
    if (word_char(c)) {
      cur.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  // A word of apostrophes only (a stray quote mark) is punctuation, not a word.
  std::erase_if(words, [](const std::string& w) { return w.find_first_not_of('\'') == std::string::npos; });
  return words;
}

Tokens tokenize(const Vocabulary& vocab, std::string_view text) {
  Tokens t;
  t.ids.fill(kPadId);
  t.ids[0] = kBosId;
  const std::vector<std::string> words = split_words(text);
  const size_t kept = std::min<size_t>(words.size(), kMaxCaptionWords);
  t.dropped_words = static_cast<int64_t>(words.size() - kept);
  for (size_t i = 0; i < kept; ++i) {
    const int32_t id = vocab.contains(words[i]) ? vocab.id(words[i]) : kUnkId;
    if (id == kUnkId &&
        std::find(t.unknown_words.begin(), t.unknown_words.end(), words[i]) == t.unknown_words.end())
      t.unknown_words.push_back(words[i]);
    t.ids[i + 1] = id;
  }
  return t;
}

std::string Tokens::warning(std::string_view text) const {
  if (ok()) return "";
  std::string w = str_cat("caption '", text, "':");
  if (!unknown_words.empty()) {
    w += " unknown words mapped to <unk>:";
    for (size_t i = 0; i < unknown_words.size(); ++i) {
      w.append(i ? ", '" : " '");
      w.append(unknown_words[i]);
      w.append("'");
    }
  }
  if (dropped_words > 0) {
    if (!unknown_words.empty()) w += ";";
    w += str_cat(" ", dropped_words, " words past the first ", kMaxCaptionWords, " dropped");
  }
  return w;
}

std::string detokenize(const Vocabulary& vocab, const int32_t* ids, int64_t n) {
  std::string out;
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] == kPadId || ids[i] == kBosId) continue;
    if (!out.empty()) out += ' ';
    out += vocab.word(ids[i]);
  }
  return out;
}

TokenBatch tokenize_batch(const Vocabulary& vocab, const std::vector<std::string>& texts) {
  TokenBatch b;
  const auto n = static_cast<int64_t>(texts.size());
  b.ids = Tensor::zeros({n, kContextLength}, DType::I32);
  int32_t* out = b.ids.i32();
  for (int64_t i = 0; i < n; ++i) {
    Tokens t = tokenize(vocab, texts[i]);
    std::copy(t.ids.begin(), t.ids.end(), out + i * kContextLength);
    if (!t.ok()) b.warnings.push_back(t.warning(texts[i]));
  }
  return b;
}

}  // namespace ld::data
