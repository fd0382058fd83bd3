// data/vocab_build.cpp: building a vocabulary from captions and reading word lists (vocab_build.h).
#include "data/vocab_build.h"

#include <algorithm>
#include <map>

#include "data/tokenizer.h"
#include "data/utf8.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

namespace ld::data {

std::string VocabBuildResult::summary(const VocabBuildOptions& o) const {
  return str_cat("vocabulary: ", words, " words from ", captions, " captions (", dropped_min_count,
                 " dropped below --vocab-min-count ", o.min_count, ", ", dropped_size,
                 " beyond --vocab-size ", o.max_size, "; 3 reserved + ", o.spare, " spare = ", vocab.size(),
                 " entries)");
}

VocabBuildResult build_vocabulary(const std::vector<std::string>& captions, const VocabBuildOptions& o) {
  if (o.min_count < 1) fail("--vocab-min-count: ", o.min_count, " must be >= 1");
  if (o.spare < 0 || o.spare > 1024) fail("--vocab-spare: ", o.spare, " must be in 0..1024");
  if (o.max_size < 4 + o.spare || o.max_size > (1 << 20))
    fail("--vocab-size: ", o.max_size, " must be in ", 4 + o.spare, "..", 1 << 20,
         " (3 reserved entries and ", o.spare, " spare rows count too)");
  std::map<std::string, int64_t> counts;  // std::map: byte order, the tie-break below
  for (const std::string& c : captions) {
    const std::vector<std::string> words = split_words(c);
    const size_t kept = std::min<size_t>(words.size(), kMaxCaptionWords);
    for (size_t i = 0; i < kept; ++i) ++counts[words[i]];
  }
  VocabBuildResult r;
  r.captions = static_cast<int64_t>(captions.size());
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [w, n] : counts) {
    if (n < o.min_count)
      ++r.dropped_min_count;
    else
      kept.emplace_back(w, n);
  }
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  const auto room = static_cast<size_t>(o.max_size - 3 - o.spare);
  if (kept.size() > room) {
    r.dropped_size = static_cast<int64_t>(kept.size() - room);
    kept.resize(room);
  }
  if (kept.empty())
    fail("--vocab auto: no word of the ", captions.size(), " training captions is seen at least ",
         o.min_count, " times (--vocab-min-count); lower it or check the captions");
  std::vector<std::string> words = {"<pad>", "<bos>", "<unk>"};
  for (const auto& [w, n] : kept) words.push_back(w);
  for (int64_t k = 0; k < o.spare; ++k) words.push_back("<spare_" + std::to_string(k) + ">");
  r.words = static_cast<int64_t>(kept.size());
  r.vocab = Vocabulary::from_words(words);
  return r;
}

Vocabulary load_vocabulary_list(const std::string& path) {
  const std::string text = read_file(path);
  check_utf8(text, "--vocab '" + path + "'");
  if (text.rfind("<pad>\n", 0) == 0 || text.rfind("<pad>\r\n", 0) == 0) return Vocabulary::parse(text, path);
  std::vector<std::string> words = {"<pad>", "<bos>", "<unk>"};
  std::map<std::string, int> line_of;
  int line = 0;
  for (const std::string& w : Vocabulary::word_lines(text, "--vocab '" + path + "'")) {
    ++line;
    const std::vector<std::string> split = split_words(w);
    if (!is_spare_slot(w) && (split.size() != 1 || split[0] != w)) {
      std::string joined;
      for (const auto& s : split) joined += (joined.empty() ? "" : " ") + s;
      fail("--vocab '", path, "': line ", line, " '", printable(w, 40),
           "' is not one word as the tokenizer gives it (lower-case, letters of any script, digits, "
           "apostrophes)",
           joined.empty() ? std::string() : "; the tokenizer reads it as '" + printable(joined, 40) + "'");
    }
    if (w == "<pad>" || w == "<bos>" || w == "<unk>")
      fail("--vocab '", path, "': line ", line, " is '", w,
           "', which only a whole vocabulary file (starting with <pad>, <bos>, <unk>) may hold");
    if (auto [it, fresh] = line_of.emplace(w, line); !fresh)
      fail("--vocab '", path, "': line ", line, " repeats '", printable(w, 40), "' (first at line ",
           it->second, ")");
    words.push_back(w);
  }
  if (words.size() == 3) fail("--vocab '", path, "': no words, expected one word per line");
  return Vocabulary::from_words(words);
}

}  // namespace ld::data
