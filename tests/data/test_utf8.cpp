// UTF-8 checks of captions and prompts (data/utf8.h): every kind of invalid sequence is found at
// its byte offset; decoding never gets stuck; messages show control bytes, not raw ones.
#include <doctest/doctest.h>

#include <string>

#include "data/utf8.h"
#include "tensor/error.h"

using namespace ld::data;

TEST_CASE("valid UTF-8: ASCII, Latin-1 letters, Cyrillic, CJK, emoji") {
  for (const char* s : {"", "a handwritten digit seven", "caf\xC3\xA9", "\xD1\x81\xD0\xB5\xD0\xBC\xD1\x8C",
                        "\xE4\xB8\x83", "\xF0\x9F\x99\x82", "\xF4\x8F\xBF\xBF"})
    CHECK(invalid_utf8_offset(s) == std::string::npos);
  const CodePoint c = decode_utf8("\xF0\x9F\x99\x82", 0);
  CHECK(c.value == 0x1F642);
  CHECK(c.length == 4);
  CHECK(c.valid);
}

TEST_CASE("invalid UTF-8 is found at the offending byte") {
  CHECK(invalid_utf8_offset("seven \xFF") == 6);        // never valid
  CHECK(invalid_utf8_offset("ab\x80") == 2);            // stray continuation byte
  CHECK(invalid_utf8_offset("abc\xC3") == 3);           // truncated at the end
  CHECK(invalid_utf8_offset("\xC3(") == 0);             // bad continuation
  CHECK(invalid_utf8_offset("x\xC0\xAF") == 1);         // overlong '/'
  CHECK(invalid_utf8_offset("\xE0\x80\xAF") == 0);      // overlong 3-byte
  CHECK(invalid_utf8_offset("ok \xED\xA0\x80") == 3);   // a UTF-16 surrogate
  CHECK(invalid_utf8_offset("\xF4\x90\x80\x80") == 0);  // past U+10FFFF
  CHECK(invalid_utf8_offset("s\xE9ven") == 1);          // Latin-1 'é', not UTF-8
  CHECK_FALSE(decode_utf8("\xFF", 0).valid);
  CHECK(decode_utf8("\xFF", 0).length == 1);  // a walk always moves on
}

TEST_CASE("check_utf8 names the source and the byte") {
  CHECK_NOTHROW(check_utf8("fine", "x"));
  CHECK_THROWS_WITH_AS(check_utf8("a seven\xE9", "'cap.txt'"),
                       doctest::Contains("'cap.txt': not valid UTF-8 at byte 7 (byte 0xE9)"), ld::Error);
}

TEST_CASE("printable shows control characters and invalid bytes escaped, and cuts long text") {
  CHECK(printable("a\nb\tc\x01") == "a\\nb\\tc\\x01");
  CHECK(printable("x\xFFy") == "x\\xFFy");
  CHECK(printable("\xD1\x81\xD0\xB5") == "\xD1\x81\xD0\xB5");
  CHECK(printable(std::string(200, 'a'), 10) == std::string(10, 'a') + "...");
  CHECK(code_point_name(0x7) == "U+0007");
  CHECK(code_point_name(0x1F642) == "U+1F642");
}
