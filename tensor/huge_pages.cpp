// tensor/huge_pages.cpp: asking glibc for a heap in 2 MB pages at start-up (see huge_pages.h).
#include "tensor/huge_pages.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "tensor/error.h"

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif
#if defined(__linux__)
#include <sys/auxv.h>
#endif

namespace ld {

namespace {

constexpr const char* kTunable = "glibc.malloc.hugetlb";
constexpr const char* kOursVar = "LORADIFF_HUGE_PAGES_SET";  // set by loradiff before its restart

// The value GLIBC_TUNABLES gives glibc.malloc.hugetlb ("name=value" items separated by ':'; the last
// one counts, as in glibc), or nullptr when it does not name it.
const char* hugetlb_value(const char* tunables, std::string* value) {
  if (!tunables) return nullptr;
  const std::string all = tunables, key = std::string(kTunable) + "=";
  bool found = false;
  for (size_t start = 0; start <= all.size();) {
    const size_t end = std::min(all.find(':', start), all.size());
    const std::string item = all.substr(start, end - start);
    if (item.rfind(key, 0) == 0) {
      *value = item.substr(key.size());
      found = true;
    }
    start = end + 1;
  }
  return found ? value->c_str() : nullptr;
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

}  // namespace

HugePagePlan huge_page_plan_here(const char* glibc_tunables, const char* choice) {
  return plan_huge_pages(glibc_has_hugetlb_tunable() ? transparent_huge_page_mode() : "no-glibc-tunable",
                         glibc_tunables, choice);
}

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
    p.huge = std::atoi(value.c_str()) != 0;     // 1: transparent huge pages; 2: hugetlbfs pages
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

bool prepare_huge_pages() {
  const char* choice = std::getenv("LORADIFF_HUGE_PAGES");
  if (choice && *choice && std::strcmp(choice, "on") != 0 && std::strcmp(choice, "off") != 0)
    warn_knob_once("LORADIFF_HUGE_PAGES",
                   str_cat("LORADIFF_HUGE_PAGES=", choice, " is not on or off; on used"));
  // Never twice: where glibc drops GLIBC_TUNABLES (a set-user-ID or capability-raising start, "secure
  // mode"), the restarted process would not see the tunable and would restart again, for ever.
  if (std::getenv(kOursVar)) return false;
#if defined(__linux__)
  if (getauxval(AT_SECURE)) return false;
#endif
  const HugePagePlan plan = huge_page_plan_here(std::getenv("GLIBC_TUNABLES"), choice);
  if (!plan.set) return false;
  setenv("GLIBC_TUNABLES", plan.tunables.c_str(), 1);
  setenv(kOursVar, "1", 1);
  return true;
}

std::string huge_pages_description() {
  return huge_page_plan_here(std::getenv("GLIBC_TUNABLES"), std::getenv("LORADIFF_HUGE_PAGES")).description;
}

const char* huge_pages_name() {
  return huge_page_plan_here(std::getenv("GLIBC_TUNABLES"), std::getenv("LORADIFF_HUGE_PAGES")).huge ? "2MB"
                                                                                                     : "4KB";
}

}  // namespace ld
