// data/unicode_case.h: lower-casing of single code points for the tokenizer, without ICU.
//
// Covered by code point ranges (the scripts captions of this project are written in):
//   ASCII A-Z; Latin-1 Supplement À-Þ (not ×); Latin Extended-A (Ā/ā .. Ž/ž pairs, Ÿ -> ÿ);
//   Greek Α-Ω and the accented capitals (Ά Έ Ή Ί Ό Ύ Ώ); Cyrillic А-Я, Ѐ-Џ (Ё -> ё included) and
//   the paired letters U+0460-U+052F (Ѣ, Ґ, Ӂ, ...).
// Everything else maps to itself. Not handled (documented in docs/data.md): Turkish İ (U+0130,
// left as is) and dotless ı, German ß (already lower case, no folding to "ss"), Greek final sigma
// (ς stays ς, σ stays σ: they are two words' spellings), title-case digraphs (ǅ), Latin Extended-B
// and beyond, Armenian, Georgian, full-width Latin. ё and е stay different letters (lower-casing
// is not folding).
#pragma once
#include <string>

namespace ld::data {

// The lower-case form of one code point (itself when it has none in the ranges above).
char32_t to_lower(char32_t c);

// The UTF-8 bytes of one code point (c <= U+10FFFF, not a surrogate).
std::string encode_utf8(char32_t c);

}  // namespace ld::data
