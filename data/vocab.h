// data/vocab.h: the word-level vocabulary of the text encoder (reference-model.md, "Data").
//
// One word per line; the line number (from 0) is the token id. Lines 0-2 are always
// <pad>, <bos>, <unk>. data/vocab.txt is the project's fixed vocabulary: every word the
// caption templates produce, all ten digit words included (so a model trained without
// nines still has a "nine" token for a LoRA adapter to learn). It is compiled into the
// library (Vocabulary::builtin()), so the binary needs no data files to tokenize.
// Words may be of any script (UTF-8), lower-cased as the tokenizer does; entries named
// <spare_0>, <spare_1>, ... are reserved rows no caption ever maps to (data/vocab_build.h).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace ld::data {

inline constexpr int32_t kPadId = 0;
inline constexpr int32_t kBosId = 1;
inline constexpr int32_t kUnkId = 2;

// "<spare_0>", "<spare_1>", ...: a reserved row of a built vocabulary (vocab_build.h).
bool is_spare_slot(const std::string& word);

class Vocabulary {
 public:
  // The committed data/vocab.txt.
  static const Vocabulary& builtin();
  // From a file in the same format; errors name the file and line.
  static Vocabulary load(const std::string& path);
  // From the text of such a file (`name` for errors).
  static Vocabulary parse(const std::string& text, const std::string& name);
  // The lines of a one-word-per-line text (\r\n accepted), in order; an empty line is refused as
  // "<what>: line N is empty, expected one word per line". parse() and word-list files share it.
  static std::vector<std::string> word_lines(const std::string& text, const std::string& what);
  // From a word list whose first three entries are <pad>, <bos>, <unk> (e.g. read back from a checkpoint).
  static Vocabulary from_words(const std::vector<std::string>& words);

  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  const std::vector<std::string>& words() const { return words_; }
  const std::string& word(int32_t id) const;  // throws for an id out of range
  int32_t id(const std::string& word) const;  // kUnkId when absent
  bool contains(const std::string& word) const { return ids_.count(word) != 0; }
  std::string text() const;  // the file format: one word per line

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace ld::data
