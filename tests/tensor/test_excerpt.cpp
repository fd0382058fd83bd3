// tensor/excerpt.h: untrusted text quoted in an error is one short line.
#include <doctest/doctest.h>

#include <string>

#include "tensor/excerpt.h"

using ld::excerpt;

TEST_CASE("excerpt: short text unchanged, long text cut with ..., control characters become spaces") {
  CHECK(excerpt("loradiff") == "loradiff");
  CHECK(excerpt(std::string(60, 'x')) == std::string(60, 'x'));
  CHECK(excerpt(std::string(5'000'000, 'x')) == std::string(60, 'x') + "...");
  CHECK(excerpt("a\nb\r\tc\x7f"
                "d") == "a b  c d");
  CHECK(excerpt(std::string("a\0b", 3)) == "a b");
  CHECK(excerpt("abcdef", 3) == "abc...");
  // never cut inside a UTF-8 sequence: "семь" is 8 bytes, 2 per letter
  CHECK(excerpt("семь", 3) == "с...");
  CHECK(excerpt("семь", 4) == "се...");
}
