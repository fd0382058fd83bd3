// data/utf8.h: checking and walking UTF-8 text (caption files, --prompt). Captions and prompts
// are UTF-8; text that is not is refused with the byte offset of the first bad byte, never
// guessed at, so what the model is trained on or asked for is what the user wrote.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace ld::data {

// Offset of the first byte that does not belong to a valid UTF-8 sequence (a stray continuation
// byte, a truncated sequence, an overlong form, a surrogate, a code point past U+10FFFF);
// std::string::npos when the whole text is valid.
size_t invalid_utf8_offset(std::string_view text);

// Throws ld::Error "<what>: not valid UTF-8 at byte N (byte 0xNN); save it as UTF-8" when invalid.
void check_utf8(std::string_view text, const std::string& what);

// The code point starting at text[at] and the number of bytes it takes. An invalid byte
// gives U+FFFD and length 1, so a walk over any bytes always moves on.
struct CodePoint {
  char32_t value = 0;
  int length = 1;
  bool valid = true;
};
CodePoint decode_utf8(std::string_view text, size_t at);

// "U+1F642"
std::string code_point_name(char32_t cp);

// The text for a one-line message: control characters (and invalid bytes) as \n, \t, \xNN;
// longer than max_bytes cut at a character boundary, with "..." appended.
std::string printable(std::string_view text, size_t max_bytes = 80);

}  // namespace ld::data
