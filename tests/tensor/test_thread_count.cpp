// LORADIFF_NUM_THREADS made sane (tensor/parallel.h): a huge, negative or malformed value gives
// a warning and a usable count instead of an error at the first large op or a hang starting a
// million threads.
#include <doctest/doctest.h>

#include <string>

#include "tensor/parallel.h"

using ld::parse_num_threads;

TEST_CASE("a plain count within the limit is taken as written, silently") {
  std::string w = "stale";
  CHECK(parse_num_threads("3", 2, 8, w) == 3);
  CHECK(w.empty());
  CHECK(parse_num_threads(nullptr, 2, 8, w) == 2);
  CHECK(w.empty());
  CHECK(parse_num_threads(nullptr, 500, 8, w) == 8);  // OpenMP's own default is clamped too
}

TEST_CASE("huge values are clamped to the maximum with one warning line") {
  for (const char* v : {"1000000", "1099511627776", "99999999999999999999999"}) {
    std::string w;
    CHECK(parse_num_threads(v, 2, 8, w) == 8);
    CHECK(w.find("LORADIFF_NUM_THREADS=") == 0);
    CHECK(w.find("using 8 threads") != std::string::npos);
    CHECK(w.find('\n') == std::string::npos);
  }
}

TEST_CASE("malformed and non-positive values fall back to the default with a warning") {
  for (const char* v : {"abc", "-5", "0", "", "12abc", " 4", "1e3", "0x10"}) {
    INFO(v);
    std::string w;
    CHECK(parse_num_threads(v, 2, 8, w) == 2);
    CHECK(w.find("is not a whole number >= 1; using 2 threads") != std::string::npos);
  }
}

TEST_CASE("the maximum is 4 x the hardware threads, within [4, 1024]") {
  CHECK(ld::max_sane_threads() >= 4);
  CHECK(ld::max_sane_threads() <= 1024);
}
