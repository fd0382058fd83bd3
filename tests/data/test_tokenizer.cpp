// Tokenizer (reference-model.md): <bos> first, 16 positions, unknown words -> <unk> with a
// warning, and the committed vocabulary file.
#include <doctest/doctest.h>

#include <string>

#include "data/tokenizer.h"
#include "data/vocab.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

using namespace ld::data;

TEST_CASE("special ids and digit words") {
  const Vocabulary& v = Vocabulary::builtin();
  CHECK(v.word(kPadId) == "<pad>");
  CHECK(v.word(kBosId) == "<bos>");
  CHECK(v.word(kUnkId) == "<unk>");
  const char* digits[10] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
  for (int d = 0; d < 10; ++d) CHECK(v.id(digits[d]) == 3 + d);
  CHECK(v.id("giraffe") == kUnkId);
}

TEST_CASE("the built-in vocabulary is the committed data/vocab.txt") {
  const std::string file = ld::read_file(std::string(LORADIFF_SOURCE_DIR) + "/data/vocab.txt");
  CHECK(Vocabulary::builtin().text() == file);
  CHECK(Vocabulary::load(std::string(LORADIFF_SOURCE_DIR) + "/data/vocab.txt").words() ==
        Vocabulary::builtin().words());
}

TEST_CASE("round trip: lower-cased words, punctuation dropped") {
  const Vocabulary& v = Vocabulary::builtin();
  const Tokens t = tokenize(v, "The digit SEVEN, thin!");
  CHECK(t.ok());
  CHECK(t.ids[0] == kBosId);
  CHECK(t.ids[1] == v.id("the"));
  CHECK(t.ids[3] == v.id("seven"));
  CHECK(t.ids[4] == v.id("thin"));
  CHECK(t.ids[5] == kPadId);
  CHECK(t.ids[15] == kPadId);
  CHECK(detokenize(v, t.ids.data()) == "the digit seven thin");
}

TEST_CASE("the empty caption is <bos> alone") {
  const Tokens t = tokenize(Vocabulary::builtin(), "  ,. ");
  CHECK(t.ids[0] == kBosId);
  for (int i = 1; i < kContextLength; ++i) CHECK(t.ids[i] == kPadId);
  CHECK(t.ok());
}

TEST_CASE("unknown words become <unk> and are listed once, in order") {
  const Vocabulary& v = Vocabulary::builtin();
  const Tokens t = tokenize(v, "a purple seven, purple and tall");
  CHECK(t.ids[2] == kUnkId);
  CHECK(t.ids[3] == v.id("seven"));
  CHECK(t.unknown_words == std::vector<std::string>{"purple", "and", "tall"});
  CHECK(t.warning("x") == "caption 'x': unknown words mapped to <unk>: 'purple', 'and', 'tall'");
}

TEST_CASE("at most 15 words after <bos>; the rest are dropped with a warning") {
  const Vocabulary& v = Vocabulary::builtin();
  std::string text;
  for (int i = 0; i < 17; ++i) text += "one ";
  const Tokens t = tokenize(v, text);
  for (int i = 1; i < kContextLength; ++i) CHECK(t.ids[i] == v.id("one"));
  CHECK(t.dropped_words == 2);
  CHECK(t.warning("long").find("2 words past the first 15 dropped") != std::string::npos);
}

TEST_CASE("batch tokenization gives an I32 (B, 16) tensor and the warnings") {
  const TokenBatch b = tokenize_batch(Vocabulary::builtin(), {"a handwritten digit nine", "a blue nine"});
  CHECK(b.ids.shape() == ld::Shape{2, 16});
  CHECK(b.ids.dtype() == ld::DType::I32);
  CHECK(b.ids.i32()[16 + 2] == kUnkId);
  REQUIRE(b.warnings.size() == 1);
  CHECK(b.warnings[0].find("'blue'") != std::string::npos);
}

TEST_CASE("vocabulary files are checked line by line") {
  CHECK_THROWS_WITH_AS(Vocabulary::parse("<pad>\n<bos>\n<unk>\nseven\nseven\n", "v.txt"),
                       doctest::Contains("v.txt: line 5 repeats 'seven' (first at line 4)"), ld::Error);
  CHECK_THROWS_WITH_AS(Vocabulary::parse("<bos>\n<pad>\n<unk>\n", "v.txt"), doctest::Contains("line 1"),
                       ld::Error);
  CHECK_THROWS_WITH_AS(Vocabulary::parse("<pad>\n<bos>\n<unk>\nSeven\n", "v.txt"),
                       doctest::Contains("not one word as the tokenizer gives it"), ld::Error);
  CHECK_THROWS_WITH_AS(Vocabulary::parse("<pad>\n<bos>\n<unk>\n\nx\n", "v.txt"),
                       doctest::Contains("line 4 is empty"), ld::Error);
  const Vocabulary v = Vocabulary::from_words({"<pad>", "<bos>", "<unk>", "cat"});
  CHECK(v.id("cat") == 3);
  CHECK_THROWS(v.word(4));
}

TEST_CASE("non-ASCII letters are words (unknown, listed), never dropped silently") {
  const Vocabulary& v = Vocabulary::builtin();
  // "a handwritten digit семь": Cyrillic 'seven' is an unknown word at its position
  const Tokens t = tokenize(v, "a handwritten digit \xD1\x81\xD0\xB5\xD0\xBC\xD1\x8C");
  CHECK(t.ids[4] == kUnkId);
  CHECK(t.ids[5] == kPadId);
  CHECK(t.unknown_words == std::vector<std::string>{"\xD1\x81\xD0\xB5\xD0\xBC\xD1\x8C"});
  CHECK_FALSE(t.ok());
  CHECK_FALSE(t.no_known_word());
  // accented Latin, CJK
  CHECK(split_words("caf\xC3\xA9 \xE4\xB8\x83") == std::vector<std::string>{"caf\xC3\xA9", "\xE4\xB8\x83"});
  CHECK(tokenize(v, "\xD1\x81\xD0\xB5\xD0\xBC\xD1\x8C").no_known_word());
}

TEST_CASE("typographic punctuation separates words; symbols and emoji are listed as ignored") {
  const Vocabulary& v = Vocabulary::builtin();
  // no-break space, em dash, curly quotes, ellipsis: like ASCII punctuation, no warning
  const Tokens p = tokenize(v, "a\xC2\xA0thin\xE2\x80\x94seven \xE2\x80\x9Cnine\xE2\x80\x9D\xE2\x80\xA6");
  CHECK(p.ok());
  CHECK(detokenize(v, p.ids.data()) == "a thin seven nine");
  // ’ is an apostrophe
  CHECK(split_words("digit\xE2\x80\x99s") == std::vector<std::string>{"digit's"});
  // an emoji and a star: ignored but listed; a control character by its code point
  const Tokens e = tokenize(v, "a seven \xF0\x9F\x99\x82 \xE2\x98\x85\x07");
  CHECK(detokenize(v, e.ids.data()) == "a seven");
  CHECK(e.ignored_chars == std::vector<std::string>{"'\xF0\x9F\x99\x82'", "'\xE2\x98\x85'", "U+0007"});
  CHECK_FALSE(e.ok());
  CHECK(e.warning("x").find("characters ignored: '\xF0\x9F\x99\x82', '\xE2\x98\x85', U+0007") !=
        std::string::npos);
  // invalid bytes (never in a checked caption) are ignored and listed, not crashed on
  const Tokens bad = tokenize(v, "seven\xFF");
  CHECK(bad.ids[1] == v.id("seven"));
  CHECK(bad.ignored_chars == std::vector<std::string>{"\\xFF"});
}

TEST_CASE("a caption of symbols only has no words; no_known_word covers it") {
  const Tokens t = tokenize(Vocabulary::builtin(), "\xE2\x98\x85\xE2\x98\x85\xE2\x98\x85");
  CHECK(t.words == 0);
  CHECK(t.no_known_word());
  CHECK_FALSE(tokenize(Vocabulary::builtin(), "purple seven").no_known_word());
}

TEST_CASE("a token report sums up a training set in one line") {
  const Vocabulary& v = Vocabulary::builtin();
  TokenReport r;
  CHECK(r.warning("captions").empty());
  r.add(tokenize(v, "a handwritten digit seven"));
  CHECK(r.ok());
  r.add(tokenize(v, "a purple seven"));
  r.add(tokenize(v, "a purple tall seven \xE2\x98\x85"));
  for (int i = 0; i < 12; ++i) r.add(tokenize(v, "word" + std::to_string(i)));
  std::string text;
  for (int i = 0; i < 17; ++i) text += "one ";
  r.add(tokenize(v, text));
  const std::string w = r.warning("captions in 'dir'", 3);
  CHECK(w.find('\n') == std::string::npos);
  CHECK(w.find("captions in 'dir': 14 of 16 captions have words the vocabulary lacks") == 0);
  CHECK(w.find("'purple' (2x), 'tall' (1x), 'word0' (1x) and 11 more words") != std::string::npos);
  CHECK(w.find("characters ignored: '\xE2\x98\x85' (1x)") != std::string::npos);
  CHECK(w.find("1 captions have more than 15 words") != std::string::npos);
}
