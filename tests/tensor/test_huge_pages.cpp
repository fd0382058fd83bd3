// tests/tensor/test_huge_pages.cpp: the start-up choice of 2 MB pages for glibc's heap
// (tensor/huge_pages.h): glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES where Linux gives huge pages on
// request, nothing where it gives them always or never, the user's settings kept.
#include <doctest/doctest.h>

#include <string>

#include "tensor/huge_pages.h"

using ld::plan_huge_pages;

TEST_CASE(
    "transparent huge pages on request (madvise): glibc.malloc.hugetlb=1 is added, other tunables kept") {
  auto p = plan_huge_pages("madvise", nullptr, nullptr);
  CHECK(p.set);
  CHECK(p.huge);
  CHECK(p.tunables == "glibc.malloc.hugetlb=1");
  CHECK(p.description ==
        "2 MB pages for the heap (GLIBC_TUNABLES: glibc.malloc.hugetlb=1, transparent huge pages: madvise)");
  p = plan_huge_pages("madvise", "", "on");  // empty counts as not set; "on" is the default
  CHECK(p.set);
  CHECK(p.tunables == "glibc.malloc.hugetlb=1");
  p = plan_huge_pages("madvise", "glibc.malloc.check=3", nullptr);
  CHECK(p.set);
  CHECK(p.tunables == "glibc.malloc.check=3:glibc.malloc.hugetlb=1");
  p = plan_huge_pages("madvise", nullptr, "sometimes");  // a bad value: on (prepare_huge_pages warns)
  CHECK(p.set);
}

TEST_CASE(
    "a GLIBC_TUNABLES that names glibc.malloc.hugetlb is kept as it is: the user's, or ours after the "
    "restart") {
  auto p = plan_huge_pages("madvise", "glibc.malloc.hugetlb=1", nullptr);  // the restarted process
  CHECK_FALSE(p.set);
  CHECK(p.huge);
  CHECK(p.description ==
        "2 MB pages for the heap (GLIBC_TUNABLES: glibc.malloc.hugetlb=1, transparent huge pages: madvise)");
  p = plan_huge_pages("madvise", "glibc.malloc.check=3:glibc.malloc.hugetlb=0:glibc.malloc.tcache_count=0",
                      nullptr);
  CHECK_FALSE(p.set);
  CHECK_FALSE(p.huge);
  CHECK(p.description == "4 KB pages (GLIBC_TUNABLES: glibc.malloc.hugetlb=0)");
  // the user's tunable wins over LORADIFF_HUGE_PAGES=off: it is what glibc does
  p = plan_huge_pages("madvise", "glibc.malloc.hugetlb=1", "off");
  CHECK_FALSE(p.set);
  CHECK(p.huge);
  // glibc takes the last of repeated names, and reads the value as a number
  p = plan_huge_pages("madvise", "glibc.malloc.hugetlb=1:glibc.malloc.hugetlb=0", nullptr);
  CHECK_FALSE(p.set);
  CHECK_FALSE(p.huge);
  CHECK_FALSE(plan_huge_pages("madvise", "glibc.malloc.hugetlb=00", nullptr).huge);
  CHECK(plan_huge_pages("madvise", "glibc.malloc.hugetlb=2", nullptr).huge);  // hugetlbfs pages
  // a name that merely contains it is another tunable
  p = plan_huge_pages("madvise", "xglibc.malloc.hugetlb=0", nullptr);
  CHECK(p.set);
  CHECK(p.tunables == "xglibc.malloc.hugetlb=0:glibc.malloc.hugetlb=1");
}

TEST_CASE("LORADIFF_HUGE_PAGES=off leaves the environment alone") {
  const auto p = plan_huge_pages("madvise", "glibc.malloc.check=3", "off");
  CHECK_FALSE(p.set);
  CHECK_FALSE(p.huge);
  CHECK(p.description == "4 KB pages (LORADIFF_HUGE_PAGES=off)");
}

TEST_CASE("huge pages always, never, not at all, or an old glibc: nothing to set") {
  auto p = plan_huge_pages("always", nullptr, nullptr);
  CHECK_FALSE(p.set);
  CHECK(p.huge);
  CHECK(p.description == "2 MB pages (transparent huge pages: always)");
  p = plan_huge_pages("never", nullptr, nullptr);
  CHECK_FALSE(p.set);
  CHECK_FALSE(p.huge);
  CHECK(p.description == "4 KB pages (transparent huge pages: never)");
  p = plan_huge_pages("", nullptr, nullptr);
  CHECK_FALSE(p.set);
  CHECK(p.description == "4 KB pages (no transparent huge pages here)");
  p = plan_huge_pages("no-glibc-tunable", nullptr, nullptr);
  CHECK_FALSE(p.set);
  CHECK(p.description == "4 KB pages (this glibc is older than 2.35)");
}

TEST_CASE("the system's mode is one of the kernel's words, or unknown") {
  const std::string m = ld::transparent_huge_page_mode();
  CHECK((m == "always" || m == "madvise" || m == "never" || m.empty()));
}
