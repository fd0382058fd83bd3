// data/utf8.cpp: UTF-8 validation and decoding (rules of RFC 3629, as in utf8.h).
#include "data/utf8.h"

#include <cstdio>

#include "tensor/error.h"

namespace ld::data {

CodePoint decode_utf8(std::string_view s, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(at);
  CodePoint bad{0xFFFD, 1, false};
  if (b0 < 0x80) return {b0, 1, true};
  int len;
  char32_t cp, min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return bad;  // a continuation byte, C0/C1 (overlong two-byte forms) or F5..FF
  }
  if (at + static_cast<size_t>(len) > s.size()) return bad;
  for (int k = 1; k < len; ++k) {
    const unsigned char b = byte(at + static_cast<size_t>(k));
    if ((b & 0xC0) != 0x80) return bad;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad;
  return {cp, len, true};
}

size_t invalid_utf8_offset(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const CodePoint c = decode_utf8(text, i);
    if (!c.valid) return i;
    i += static_cast<size_t>(c.length);
  }
  return std::string::npos;
}

void check_utf8(std::string_view text, const std::string& what) {
  const size_t at = invalid_utf8_offset(text);
  if (at == std::string::npos) return;
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(text[at])));
  fail(what, ": not valid UTF-8 at byte ", at, " (byte ", hex, "); captions and prompts must be UTF-8 text");
}

std::string code_point_name(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const CodePoint c = decode_utf8(text, i);
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    if (!c.valid || c.value < 0x20 || c.value == 0x7F || (c.value >= 0x80 && c.value < 0xA0)) {
      if (c.value == '\n') {
        out += "\\n";
      } else if (c.value == '\t') {
        out += "\\t";
      } else {
        for (int k = 0; k < c.length; ++k) {  // each byte of the control or invalid sequence
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02X",
                        static_cast<unsigned>(static_cast<unsigned char>(text[i + static_cast<size_t>(k)])));
          out += buf;
        }
      }
    } else {
      out.append(text.substr(i, static_cast<size_t>(c.length)));
    }
    i += static_cast<size_t>(c.length);
  }
  return out;
}

}  // namespace ld::data
