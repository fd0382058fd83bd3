// tensor/memory.cpp: available memory from /proc/meminfo and the up-front check (memory.h).
#include "tensor/memory.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace ld {

int64_t available_memory_bytes() {
  if (const char* env = std::getenv("LORADIFF_MEMORY_AVAILABLE")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && v >= 0) return v;
  }
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  long long kb = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream s(line);
    if (s >> key >> kb >> unit && key == "MemAvailable:") return static_cast<int64_t>(kb) * 1024;
  }
  return -1;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000 && u < 6) bytes /= 1000, ++u;
  char buf[64];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%.0f %s", bytes, units[u]);
  else if (bytes >= 100 || u == 6)
    std::snprintf(buf, sizeof buf, "%.3g %s", bytes, units[u]);
  else
    std::snprintf(buf, sizeof buf, "%.2g %s", bytes, units[u]);
  return buf;
}

void check_memory(double need_bytes, const std::string& what, const std::string& formula) {
  const int64_t avail = available_memory_bytes();
  if (avail < 0 || need_bytes <= static_cast<double>(avail)) return;
  fail(what, " needs about ", format_bytes(need_bytes), " of memory (", formula, "), but only ",
       format_bytes(static_cast<double>(avail)), " are available (MemAvailable in /proc/meminfo)");
}

}  // namespace ld
