// data/vocab.cpp: loading and checking vocabularies (format in vocab.h).
#include "data/vocab.h"

#include "data/tokenizer.h"
#include "tensor/error.h"
#include "tensor/excerpt.h"
#include "tensor/file_io.h"

namespace ld::data {

extern const char* const kBuiltinVocabText;  // generated from data/vocab.txt

const Vocabulary& Vocabulary::builtin() {
  static const Vocabulary v = parse(kBuiltinVocabText, "data/vocab.txt (built in)");
  return v;
}

Vocabulary Vocabulary::load(const std::string& path) { return parse(read_file(path), path); }

// A word is what the tokenizer can produce: one word, already lower-cased, of letters (any
// script), digits and apostrophes. A word it can never produce would be a dead row.
static bool valid_word(const std::string& w) {
  if (is_spare_slot(w)) return true;
  const std::vector<std::string> split = split_words(w);
  return split.size() == 1 && split[0] == w;
}

bool is_spare_slot(const std::string& w) {
  if (w.size() < 9 || w.rfind("<spare_", 0) != 0 || w.back() != '>') return false;
  for (size_t i = 7; i + 1 < w.size(); ++i)
    if (w[i] < '0' || w[i] > '9') return false;
  return true;
}

static Vocabulary build(const std::vector<std::string>& words, const std::string& name,
                        const std::vector<int>& line_of) {
  static const char* kSpecial[3] = {"<pad>", "<bos>", "<unk>"};
  if (words.size() < 3)
    fail("vocabulary ", name, ": ", words.size(), " entries, expected <pad>, <bos>, <unk> first");
  std::unordered_map<std::string, std::string> seen;  // word -> where
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string where =
        line_of.empty() ? "entry " + std::to_string(i) : "line " + std::to_string(line_of[i]);
    if (i < 3 && words[i] != kSpecial[i])
      fail("vocabulary ", name, ": ", where, " is '", excerpt(words[i]), "', expected '", kSpecial[i],
           "' (id ", i, ")");
    if (i >= 3 && !valid_word(words[i]))
      fail("vocabulary ", name, ": ", where, " '", excerpt(words[i]),
           "' is not one word as the tokenizer gives it (lower-case letters of any script, digits, "
           "apostrophes)");
    if (auto [it, fresh] = seen.emplace(words[i], where); !fresh)
      fail("vocabulary ", name, ": ", where, " repeats '", excerpt(words[i]), "' (first at ", it->second,
           ")");
  }
  return Vocabulary::from_words(words);
}

std::vector<std::string> Vocabulary::word_lines(const std::string& text, const std::string& what) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string w = text.substr(pos, end - pos);
    if (!w.empty() && w.back() == '\r') w.pop_back();
    if (w.empty()) fail(what, ": line ", lines.size() + 1, " is empty, expected one word per line");
    lines.push_back(w);
    pos = end + 1;
  }
  return lines;
}

Vocabulary Vocabulary::parse(const std::string& text, const std::string& name) {
  const std::vector<std::string> words = word_lines(text, "vocabulary " + name);
  std::vector<int> line_of(words.size());
  for (size_t i = 0; i < words.size(); ++i) line_of[i] = static_cast<int>(i) + 1;
  return build(words, name, line_of);
}

Vocabulary Vocabulary::from_words(const std::vector<std::string>& words) {
  Vocabulary v;
  if (words.size() < 3 || words[0] != "<pad>" || words[1] != "<bos>" || words[2] != "<unk>")
    fail("vocabulary: expected <pad>, <bos>, <unk> as the first three words");
  for (size_t i = 0; i < words.size(); ++i) {
    if (!v.ids_.emplace(words[i], static_cast<int32_t>(i)).second)
      fail("vocabulary: '", excerpt(words[i]), "' appears twice (ids ", v.ids_[words[i]], " and ", i, ")");
    v.words_.push_back(words[i]);
  }
  return v;
}

const std::string& Vocabulary::word(int32_t id) const {
  if (id < 0 || id >= size()) fail("vocabulary: token id ", id, " out of range 0..", size() - 1);
  return words_[static_cast<size_t>(id)];
}

int32_t Vocabulary::id(const std::string& word) const {
  auto it = ids_.find(word);
  return it == ids_.end() ? kUnkId : it->second;
}

std::string Vocabulary::text() const {
  std::string out;
  for (const std::string& w : words_) out += w + "\n";
  return out;
}

}  // namespace ld::data
