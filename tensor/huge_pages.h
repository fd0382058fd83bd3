// tensor/huge_pages.h: the heap in 2 MB pages (Linux transparent huge pages, through glibc).
//
// A training step of mnist-t2i streams through activations of 3-26 MB each, several times over. With
// 4 KB pages each 4 KB of such a pass needs its own address translation; the CPU's TLB holds a couple
// of thousand, so a pass over 26 MB (6,400 pages) misses it all the way, and on a virtual machine each
// miss walks two page tables (the guest's and the host's). 2 MB pages need 512 times fewer entries.
// Linux backs memory with them where the process asks (madvise(MADV_HUGEPAGE)) when
// /sys/kernel/mm/transparent_hugepage/enabled is "madvise" (Debian 12's default), or everywhere when
// it is "always".
//
// Every tensor lives in glibc's heap (tensor/tensor.cpp keeps large blocks out of mmap), and glibc
// (2.35 and later) asks for huge pages for its whole heap, aligning each growth to 2 MB, when the
// tunable glibc.malloc.hugetlb=1 is set. Advising tensors one by one from our side was tried and
// reached only part of it: glibc writes a chunk header into each new piece of heap before the tensor
// can be advised, and that 2 MB region then stays in small pages (measured: 660 of 720 MB in huge
// pages and half the gain; with the tunable 705 MB, docs/results.md). glibc reads the tunable once,
// at start-up, so apps/main.cpp adds it to GLIBC_TUNABLES and restarts itself: the same restart as
// OpenMP's wait policy (tensor/omp_wait.h) and the BLAS kernel's (tensor/blas_kernel.h), which most
// runs make anyway.
//
//   LORADIFF_HUGE_PAGES=off, or the user's GLIBC_TUNABLES names glibc.malloc.hugetlb  ->  untouched;
//   transparent huge pages "madvise"  ->  add glibc.malloc.hugetlb=1 and restart;
//   "always" (every anonymous page already, whatever LORADIFF_HUGE_PAGES says) or "never" / no such
//   file  ->  nothing to do.
//
// Measured (docs/results.md), on a VM whose memory is slow at times: in its slow hours a training step
// and a DDIM step 9 % faster; in its fast hours a training step 0-2 % faster, and a DDIM run pays once
// for first touching its 2 MB pages (a 10-step run 4 % slower), repaid over 50 steps (2.5 % faster).
// Peak memory unchanged.
// `loradiff --version` ("memory: ...") and every bench line ("pages") say what is in use.
#pragma once
#include <string>

namespace ld {

struct HugePagePlan {
  bool set = false;         // true: put `tunables` into GLIBC_TUNABLES (and restart)
  std::string tunables;     // the new GLIBC_TUNABLES value
  bool huge = false;        // whether the heap is in 2 MB pages (after the restart, when set)
  std::string description;  // what --version reports
};

// A pure function of what start-up sees (unit-tested):
//   thp_mode        the bracketed word of /sys/kernel/mm/transparent_hugepage/enabled: "always",
//                   "madvise", "never", or "" (no such file: not Linux, or a kernel without THP)
//   glibc_tunables  GLIBC_TUNABLES from the environment, or nullptr
//   choice          LORADIFF_HUGE_PAGES from the environment ("on", "off"), or nullptr (on)
HugePagePlan plan_huge_pages(const std::string& thp_mode, const char* glibc_tunables, const char* choice);

// The system's transparent huge page mode, as plan_huge_pages takes it.
std::string transparent_huge_page_mode();

// plan_huge_pages with this system's mode (and "no-glibc-tunable" on a glibc older than 2.35).
HugePagePlan huge_page_plan_here(const char* glibc_tunables, const char* choice);

// Called first thing in main(): applies huge_page_plan_here to the environment. Returns true when it
// has set it for a restart (the caller re-executes itself); never twice (its mark
// LORADIFF_HUGE_PAGES_SET), nor in glibc's secure mode, where GLIBC_TUNABLES is dropped. A bad
// LORADIFF_HUGE_PAGES warns once (on is used).
bool prepare_huge_pages();

// What this process runs with: "2 MB pages for the heap (glibc.malloc.hugetlb=1, transparent huge
// pages: madvise)", "4 KB pages (LORADIFF_HUGE_PAGES=off)", ...
std::string huge_pages_description();
// The short form for bench lines: "2MB" or "4KB".
const char* huge_pages_name();

}  // namespace ld
