// tensor/huge_pages.cpp: asking glibc for a heap in 2 MB pages at start-up (see huge_pages.h).
#include "tensor/huge_pages.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

namespace ld {

namespace {

constexpr const char* kTunable = "glibc.malloc.hugetlb";

// The value GLIBC_TUNABLES gives glibc.malloc.hugetlb ("name=value" items separated by ':'), or
// nullptr when it does not name it.
const char* hugetlb_value(const char* tunables, std::string* value) {
  if (!tunables) return nullptr;
  const std::string all = tunables, key = std::string(kTunable) + "=";
  for (size_t start = 0; start <= all.size();) {
    const size_t end = std::min(all.find(':', start), all.size());
    const std::string item = all.substr(start, end - start);
    if (item.rfind(key, 0) == 0) {
      *value = item.substr(key.size());
      return value->c_str();
    }
    start = end + 1;
  }
  return nullptr;
}

// glibc.malloc.hugetlb exists from glibc 2.35 on; an older glibc ignores it.
bool glibc_has_hugetlb_tunable() {
#if defined(__GLIBC__)
  int major = 0, minor = 0;
  if (std::sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) != 2) return false;
  return major > 2 || (major == 2 && minor >= 35);
#else
  return false;
#endif
}

HugePagePlan plan_now() {
  const char* choice = std::getenv("LORADIFF_HUGE_PAGES");
  return plan_huge_pages(glibc_has_hugetlb_tunable() ? transparent_huge_page_mode() : "no-glibc-tunable",
                         std::getenv("GLIBC_TUNABLES"), choice);
}

}  // namespace

HugePagePlan plan_huge_pages(const std::string& thp_mode, const char* glibc_tunables, const char* choice) {
  HugePagePlan p;
  if (thp_mode == "always") {  // the kernel backs every anonymous mapping with them already
    p.huge = true;
    p.description = "2 MB pages (transparent huge pages: always)";
    return p;
  }
  if (thp_mode != "madvise") {
    p.description = thp_mode == "no-glibc-tunable" ? "4 KB pages (this glibc is older than 2.35)"
                    : thp_mode.empty()             ? "4 KB pages (no transparent huge pages here)"
                                                   : "4 KB pages (transparent huge pages: " + thp_mode + ")";
    return p;
  }
  std::string value;
  if (hugetlb_value(glibc_tunables, &value)) {  // the user's (or, after the restart, ours): as it is
    p.huge = value != "0";
    p.description = (p.huge ? "2 MB pages for the heap (GLIBC_TUNABLES: " : "4 KB pages (GLIBC_TUNABLES: ") +
                    std::string(kTunable) + "=" + value +
                    (p.huge ? ", transparent huge pages: madvise)" : ")");
    return p;
  }
  if (choice && std::strcmp(choice, "off") == 0) {
    p.description = "4 KB pages (LORADIFF_HUGE_PAGES=off)";
    return p;
  }
  p.set = p.huge = true;
  p.tunables = (glibc_tunables && *glibc_tunables ? std::string(glibc_tunables) + ":" : std::string()) +
               kTunable + "=1";
  p.description = "2 MB pages for the heap (GLIBC_TUNABLES: " + std::string(kTunable) +
                  "=1, transparent huge pages: madvise)";
  return p;
}

std::string transparent_huge_page_mode() {
  // e.g. "always [madvise] never": the bracketed word is the mode in force
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!std::getline(in, line)) return "";
  const size_t a = line.find('['), b = line.find(']');
  return a != std::string::npos && b != std::string::npos && b > a ? line.substr(a + 1, b - a - 1) : "";
}

bool prepare_huge_pages(bool restarting) {
  const HugePagePlan plan = plan_now();
  const char* choice = std::getenv("LORADIFF_HUGE_PAGES");
  // a bad value: said by the process that goes on (after a restart, the restarted one)
  if (!restarting && !plan.set && choice && *choice && std::strcmp(choice, "on") != 0 &&
      std::strcmp(choice, "off") != 0)
    std::fprintf(stderr, "loradiff: LORADIFF_HUGE_PAGES=%s is not on or off; on used\n", choice);
  if (!plan.set) return false;
  setenv("GLIBC_TUNABLES", plan.tunables.c_str(), 1);
  return true;
}

std::string huge_pages_description() { return plan_now().description; }

const char* huge_pages_name() { return plan_now().huge ? "2MB" : "4KB"; }

}  // namespace ld
