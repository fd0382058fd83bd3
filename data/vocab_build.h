// data/vocab_build.h: a word vocabulary built from training captions (`train --vocab auto`), or
// read from a plain word list (`train --vocab FILE`).
//
// Built: every caption is split by the tokenizer (Unicode-aware lower-casing, any script), the
// first kMaxCaptionWords words of each are counted, words seen fewer than min_count times are
// dropped, the rest sorted by count (most frequent first), then by their UTF-8 bytes (so the
// same captions always give the same ids), and cut so that the whole vocabulary has at most
// max_size entries:
//   <pad> <bos> <unk>   words ...   <spare_0> .. <spare_{spare-1}>
// The spare rows are never produced by the tokenizer; they keep a few rows of the token table
// free for words added to the base model later, by hand, without changing its shapes. (`lora train
// --new-token` does not need them: an adapter carries its new rows itself, text_encoder.h.)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/vocab.h"

namespace ld::data {

struct VocabBuildOptions {
  int64_t min_count = 1;    // --vocab-min-count
  int64_t max_size = 4096;  // --vocab-size: all entries, the 3 reserved and the spares included
  int64_t spare = 8;        // <spare_k> rows at the end
};

struct VocabBuildResult {
  Vocabulary vocab;
  int64_t captions = 0;           // captions read
  int64_t words = 0;              // distinct words kept
  int64_t dropped_min_count = 0;  // distinct words seen fewer than min_count times
  int64_t dropped_size = 0;       // distinct words past max_size
  // "vocabulary: N words from M captions (K dropped below --vocab-min-count 2, J beyond --vocab-size
  // 4096; 3 reserved + S spare = T entries)"
  std::string summary(const VocabBuildOptions& o) const;
};

// Throws for options out of range (naming the option), or when no word is left.
VocabBuildResult build_vocabulary(const std::vector<std::string>& captions, const VocabBuildOptions& options);

// --vocab FILE: UTF-8, one word per line. A file whose first line is <pad> is a whole vocabulary
// (vocab.h format, e.g. data/vocab.txt); otherwise the lines are the words, and <pad> <bos> <unk>
// are put first. A word the tokenizer would not give as it is written ("Seven", "two words"), an
// empty line or a repeated word is refused naming the file and line.
Vocabulary load_vocabulary_list(const std::string& path);

}  // namespace ld::data
