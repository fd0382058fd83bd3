// tensor/excerpt.h: a short, one-line excerpt of untrusted text for an error message.
// Errors are one line (apps/main.cpp prints them after "loradiff: error: "); a file's
// metadata value or a JSON parser's message can be megabytes long and hold newlines, so
// messages quote such text through excerpt(): control characters become spaces and text
// longer than `max` bytes is cut (never inside a UTF-8 sequence) and ends in "...".
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace ld {

inline constexpr size_t kExcerptChars = 60;

inline std::string excerpt(std::string_view text, size_t max = kExcerptChars) {
  size_t cut = text.size();
  if (cut > max) {
    cut = max;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // a continuation byte
  }
  std::string out(text.substr(0, cut));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (cut < text.size()) out += "...";
  return out;
}

}  // namespace ld
