// Vocabularies built from captions (`train --vocab auto`, data/vocab_build.h) and word-list files
// (`train --vocab FILE`): Cyrillic, the minimum count, the size limit, determinism, bad files.
#include <doctest/doctest.h>

#include <algorithm>

#include "data/tokenizer.h"
#include "data/vocab_build.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tests/temp_dir.h"

using namespace ld::data;

TEST_CASE("built vocabulary: reserved first, words by count then bytes, spares last") {
  VocabBuildOptions o;
  o.spare = 2;
  const VocabBuildResult r = build_vocabulary({"a red circle", "A blue circle", "circle, red!"}, o);
  CHECK(r.vocab.words() == std::vector<std::string>{"<pad>", "<bos>", "<unk>", "circle", "a", "red", "blue",
                                                    "<spare_0>", "<spare_1>"});
  CHECK(r.captions == 3);
  CHECK(r.words == 4);
  CHECK(
      r.summary(o) ==
      "vocabulary: 4 words from 3 captions (0 dropped below --vocab-min-count 1, 0 beyond --vocab-size 4096; "
      "3 reserved + 2 spare = 9 entries)");
  // spare rows are never produced by the tokenizer
  CHECK(tokenize(r.vocab, "<spare_0>").ids[1] != r.vocab.id("<spare_0>"));
}

TEST_CASE("built vocabulary: Cyrillic words, any case, are one word each") {
  const VocabBuildResult r =
      build_vocabulary({"Рукописная цифра семь", "ЦИФРА СЕМЬ, написанная от руки", "цифра ёж"}, {});
  CHECK(r.vocab.id("цифра") == 3);  // 3 times
  CHECK(r.vocab.id("семь") == 4);   // 2 times
  CHECK(r.vocab.contains("ёж"));
  CHECK(r.vocab.contains("рукописная"));
  CHECK_FALSE(r.vocab.contains("ЦИФРА"));
  const Tokens t = tokenize(r.vocab, "Цифра Семь");
  CHECK(t.ok());
  CHECK(t.ids[1] == 3);
  CHECK(t.ids[2] == 4);
}

TEST_CASE("built vocabulary: --vocab-min-count and --vocab-size drop words, counted") {
  const std::vector<std::string> caps = {"x y z", "x y", "x", "w"};
  VocabBuildOptions o;
  o.min_count = 2;
  o.spare = 0;
  VocabBuildResult r = build_vocabulary(caps, o);
  CHECK(r.vocab.words() == std::vector<std::string>{"<pad>", "<bos>", "<unk>", "x", "y"});
  CHECK(r.dropped_min_count == 2);  // z, w
  o.min_count = 1;
  o.max_size = 5;  // 3 reserved + 2 words
  r = build_vocabulary(caps, o);
  CHECK(r.vocab.words() == std::vector<std::string>{"<pad>", "<bos>", "<unk>", "x", "y"});
  CHECK(r.dropped_size == 2);  // w, z (count 1 each, cut in byte order)
  CHECK(r.summary(o).find("2 beyond --vocab-size 5") != std::string::npos);
  // words past the 15th of a caption are not encoded, so not counted
  std::string long_caption;
  for (int i = 0; i < 20; ++i) long_caption.append("w").append(std::to_string(100 + i)).append(" ");
  CHECK(build_vocabulary({long_caption}, {}).words == 15);
  // options out of range, and nothing left
  o.max_size = 3;
  CHECK_THROWS_WITH_AS(build_vocabulary(caps, o), doctest::Contains("--vocab-size: 3 must be in 4.."),
                       ld::Error);
  o.max_size = 100;
  o.min_count = 0;
  CHECK_THROWS_WITH_AS(build_vocabulary(caps, o), doctest::Contains("--vocab-min-count"), ld::Error);
  o.min_count = 9;
  CHECK_THROWS_WITH_AS(build_vocabulary(caps, o), doctest::Contains("no word"), ld::Error);
}

TEST_CASE("built vocabulary: the same captions in any order give the same ids") {
  std::vector<std::string> caps = {"b a", "c b", "a d", "e"};
  const Vocabulary one = build_vocabulary(caps, {}).vocab;
  std::reverse(caps.begin(), caps.end());
  CHECK(build_vocabulary(caps, {}).vocab.words() == one.words());
  CHECK(one.words()[3] == "a");  // a, b (2 each, bytes order), then c, d, e
  CHECK(one.words()[4] == "b");
  CHECK(one.words()[5] == "c");
}

TEST_CASE("--vocab FILE: a word list or a whole vocabulary; duplicates and bad words name the line") {
  ld::test::TempDir tmp("vocab-build");
  ld::write_file_atomic(tmp / "words.txt", "семь\ncat\n");
  const Vocabulary v = load_vocabulary_list(tmp / "words.txt");
  CHECK(v.words() == std::vector<std::string>{"<pad>", "<bos>", "<unk>", "семь", "cat"});
  CHECK(load_vocabulary_list(std::string(LORADIFF_SOURCE_DIR) + "/data/vocab.txt").words() ==
        Vocabulary::builtin().words());
  ld::write_file_atomic(tmp / "dup.txt", "cat\nсемь\ncat\n");
  CHECK_THROWS_WITH_AS(load_vocabulary_list(tmp / "dup.txt"),
                       doctest::Contains("dup.txt': line 3 repeats 'cat' (first at line 1)"), ld::Error);
  ld::write_file_atomic(tmp / "upper.txt", "cat\nСемь\n");
  CHECK_THROWS_WITH_AS(load_vocabulary_list(tmp / "upper.txt"),
                       doctest::Contains("upper.txt': line 2 'Семь' is not one word"), ld::Error);
  ld::write_file_atomic(tmp / "two.txt", "red circle\n");
  CHECK_THROWS_WITH_AS(load_vocabulary_list(tmp / "two.txt"), doctest::Contains("reads it as 'red circle'"),
                       ld::Error);
  ld::write_file_atomic(tmp / "empty-line.txt", "cat\n\ndog\n");
  CHECK_THROWS_WITH_AS(load_vocabulary_list(tmp / "empty-line.txt"), doctest::Contains("line 2 is empty"),
                       ld::Error);
  ld::write_file_atomic(tmp / "latin1.txt", "caf\xE9\n");
  CHECK_THROWS_WITH_AS(load_vocabulary_list(tmp / "latin1.txt"), doctest::Contains("not valid UTF-8"),
                       ld::Error);
  ld::write_file_atomic(tmp / "whole-dup.txt", "<pad>\n<bos>\n<unk>\nсемь\nсемь\n");
  CHECK_THROWS_WITH_AS(load_vocabulary_list(tmp / "whole-dup.txt"), doctest::Contains("line 5 repeats"),
                       ld::Error);
}
