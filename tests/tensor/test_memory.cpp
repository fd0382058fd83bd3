// Up-front memory checks (tensor/memory.h): MemAvailable is read, a request beyond it is refused
// with both numbers, and the figures are readable.
#include <doctest/doctest.h>

#include <cstdlib>

#include "tensor/error.h"
#include "tensor/memory.h"

TEST_CASE("MemAvailable is read from /proc/meminfo (Linux)") {
  unsetenv("LORADIFF_MEMORY_AVAILABLE");
  const int64_t avail = ld::available_memory_bytes();
  CHECK(avail > 1000000);  // any machine that runs the suite has a megabyte free
}

TEST_CASE("a request beyond the available memory is refused naming it, both sizes and the formula") {
  setenv("LORADIFF_MEMORY_AVAILABLE", "2000000000", 1);  // 2 GB
  CHECK(ld::available_memory_bytes() == 2000000000);
  CHECK_NOTHROW(ld::check_memory(1.5e9, "--n 5", "x"));
  CHECK_THROWS_WITH_AS(
      ld::check_memory(3.13e11, "--n 100000000", "100000000 images x 3136 bytes"),
      doctest::Contains("--n 100000000 needs about 313 GB of memory (100000000 images x 3136 "
                        "bytes), but only 2 GB are available (MemAvailable in /proc/meminfo)"),
      ld::Error);
  CHECK_THROWS_AS(ld::check_memory(1e300, "x", "y"), ld::Error);  // no overflow on absurd sizes
  unsetenv("LORADIFF_MEMORY_AVAILABLE");
}

TEST_CASE("byte counts read as people write them") {
  CHECK(ld::format_bytes(512) == "512 bytes");
  CHECK(ld::format_bytes(1.5e6) == "1.5 MB");
  CHECK(ld::format_bytes(3.13e11) == "313 GB");
  CHECK(ld::format_bytes(2.2e10) == "22 GB");
}
