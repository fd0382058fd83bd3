// tensor/excerpt.h: a short, one-line excerpt of untrusted text for an error message.
// Errors are one line (apps/main.cpp prints them after "loradiff: error: "); a file's
// metadata value or a JSON parser's message can be megabytes long and hold newlines, so
// messages quote such text through excerpt(): control characters become spaces and text
// longer than `max` bytes is cut (never inside a UTF-8 sequence) and ends in "...". Lists of
// problems go through one_line_list().
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

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

// "a; b; c; and 7 more": a list of problems (a strict load's missing and unexpected names, ...)
// on one line, each item an excerpt of at most 160 bytes, at most `max_items` of them.
inline std::string one_line_list(const std::vector<std::string>& items, size_t max_items = 5) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max_items; ++i) out += (i ? "; " : "") + excerpt(items[i], 160);
  if (items.size() > max_items) out += "; and " + std::to_string(items.size() - max_items) + " more";
  return out;
}

}  // namespace ld
