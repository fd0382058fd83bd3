// tensor/memory.h: refusing work that cannot fit in memory before it starts, instead of a
// std::bad_alloc (or the kernel's OOM killer) minutes or hours into it.
#pragma once
#include <cstdint>
#include <string>

namespace ld {

// MemAvailable of /proc/meminfo in bytes (what can be allocated without swapping); -1 when
// unknown (no /proc, an old kernel). LORADIFF_MEMORY_AVAILABLE (bytes) overrides it, for tests.
int64_t available_memory_bytes();

// "1.5 GB", "313 GB", "2.0 MB" (powers of 1000).
std::string format_bytes(double bytes);

// Throws ld::Error "<what> needs about <need> (<formula>), more than the <available> of memory
// available" when need_bytes is larger than available_memory_bytes(); nothing when unknown.
// need_bytes is a double so that products of absurd sizes do not overflow.
void check_memory(double need_bytes, const std::string& what, const std::string& formula);

}  // namespace ld
