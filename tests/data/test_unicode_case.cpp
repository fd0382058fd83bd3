// Unicode lower-casing of the tokenizer (data/unicode_case.h): Latin-1, Latin Extended-A, Greek and
// Cyrillic capitals become their small letters, so "СЕМЬ", "Семь" and "семь" are one word.
#include <doctest/doctest.h>

#include "data/tokenizer.h"
#include "data/unicode_case.h"

using namespace ld::data;

TEST_CASE("to_lower maps the covered scripts by code point") {
  CHECK(to_lower(U'A') == U'a');
  CHECK(to_lower(U'z') == U'z');
  CHECK(to_lower(U'1') == U'1');
  // Latin-1: À..Þ without ×; ß and ÿ stay
  CHECK(to_lower(U'\u00C0') == U'\u00E0');  // À
  CHECK(to_lower(U'\u00C9') == U'\u00E9');  // É
  CHECK(to_lower(U'\u00DE') == U'\u00FE');  // Þ
  CHECK(to_lower(U'\u00D7') == U'\u00D7');  // ×
  CHECK(to_lower(U'\u00DF') == U'\u00DF');  // ß
  // Latin Extended-A: both parities, Ÿ, and the Turkish İ left as is (documented)
  CHECK(to_lower(U'\u0100') == U'\u0101');  // Ā
  CHECK(to_lower(U'\u0141') == U'\u0142');  // Ł (odd run)
  CHECK(to_lower(U'\u0152') == U'\u0153');  // Œ
  CHECK(to_lower(U'\u017D') == U'\u017E');  // Ž
  CHECK(to_lower(U'\u0178') == U'\u00FF');  // Ÿ
  CHECK(to_lower(U'\u0130') == U'\u0130');  // İ
  CHECK(to_lower(U'\u0142') == U'\u0142');  // ł stays
  // Greek
  CHECK(to_lower(U'\u0391') == U'\u03B1');  // Α
  CHECK(to_lower(U'\u03A3') == U'\u03C3');  // Σ -> σ
  CHECK(to_lower(U'\u03A9') == U'\u03C9');  // Ω
  CHECK(to_lower(U'\u0386') == U'\u03AC');  // Ά
  CHECK(to_lower(U'\u038F') == U'\u03CE');  // Ώ
  CHECK(to_lower(U'\u03C2') == U'\u03C2');  // final ς stays
  // Cyrillic: А-Я, Ё, Ѐ-Џ, extensions
  CHECK(to_lower(U'\u0410') == U'\u0430');  // А
  CHECK(to_lower(U'\u042F') == U'\u044F');  // Я
  CHECK(to_lower(U'\u0401') == U'\u0451');  // Ё -> ё
  CHECK(to_lower(U'\u0406') == U'\u0456');  // І (Ukrainian)
  CHECK(to_lower(U'\u0490') == U'\u0491');  // Ґ
  CHECK(to_lower(U'\u04C1') == U'\u04C2');  // Ӂ
  CHECK(to_lower(U'\u0451') == U'\u0451');  // ё stays
  CHECK(to_lower(U'\u4E03') == U'\u4E03');  // 七: no case
}

TEST_CASE("encode_utf8 writes 1 to 4 bytes") {
  CHECK(encode_utf8(U'a') == "a");
  CHECK(encode_utf8(U'\u0451') == "\xD1\x91");
  CHECK(encode_utf8(U'\u4E03') == "\xE4\xB8\x83");
  CHECK(encode_utf8(U'\U0001F642') == "\xF0\x9F\x99\x82");
}

TEST_CASE("the tokenizer lower-cases Cyrillic, Latin-1 and Greek words") {
  using V = std::vector<std::string>;
  CHECK(split_words("РУКОПИСНАЯ Цифра СЕМЬ") == V{"рукописная", "цифра", "семь"});
  CHECK(split_words("ЁЛКА ёлка") == V{"ёлка", "ёлка"});
  CHECK(split_words("CAFÉ Über ŁÓDŹ") == V{"café", "über", "łódź"});
  CHECK(split_words("ΑΛΦΑ Ωμέγα ΆΛΜΑ") == V{"αλφα", "ωμέγα", "άλμα"});
  // the same word in any case is one vocabulary entry
  const Vocabulary v = Vocabulary::from_words({"<pad>", "<bos>", "<unk>", "семь"});
  CHECK(tokenize(v, "СЕМЬ").ids[1] == 3);
  CHECK(tokenize(v, "Семь").ids[1] == 3);
  CHECK(tokenize(v, "семь").ok());
}
