// data/unicode_case.cpp: the case mapping of unicode_case.h, by Unicode code charts.
#include "data/unicode_case.h"

namespace ld::data {

namespace {

// In a run of alternating capital/small pairs starting at `first` (capital at even offsets from
// first), the small letter of c.
bool paired(char32_t c, char32_t first, char32_t last, char32_t& out) {
  if (c < first || c > last) return false;
  out = ((c - first) % 2 == 0) ? c + 1 : c;
  return true;
}

}  // namespace

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  // Latin-1 Supplement: À-Ö, Ø-Þ (× U+00D7 is a symbol; ß U+00DF is lower case)
  if (c >= 0xC0 && c <= 0xDE) return c == 0xD7 ? c : c + 32;
  if (c < 0x100) return c;
  char32_t out = c;
  // Latin Extended-A: pairs, with three breaks in the parity (İ ı, ĸ, ŉ) and Ÿ/ſ
  if (c <= 0x17F) {
    if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    if (c == 0x178) return 0xFF;  // Ÿ -> ÿ (in Latin-1)
    if (paired(c, 0x100, 0x12F, out) || paired(c, 0x132, 0x137, out) || paired(c, 0x14A, 0x177, out))
      return out;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
    return c;
  }
  // Greek: accented capitals, then Α-Ρ, Σ-Ϋ (U+03A2 is unassigned: final sigma has no capital)
  if (c >= 0x386 && c <= 0x3AB) {
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    return c;
  }
  // Cyrillic: Ѐ-Џ (Ё included) -> ѐ-џ, А-Я -> а-я, then the paired extensions
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x460 && c <= 0x52F) {
    if (c == 0x4C0) return 0x4CF;  // Ӏ palochka
    if (c >= 0x4C1 && c <= 0x4CE) return (c % 2 == 1) ? c + 1 : c;
    if (paired(c, 0x460, 0x481, out) || paired(c, 0x48A, 0x4BF, out) || paired(c, 0x4D0, 0x52F, out))
      return out;
    return c;
  }
  return c;
}

std::string encode_utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (c >> 6)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (c >> 12)));
    s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (c >> 18)));
    s.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
  return s;
}

}  // namespace ld::data
