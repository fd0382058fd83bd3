// tests/apps/test_cli_blas_kernel.cpp: `loradiff --version` names the GEMM kernel, the SIMD level and how
// idle threads wait (tensor/omp_wait.h); a generic kernel on a capable CPU is replaced by a restart
// (tensor/blas_kernel.h), and a user's OPENBLAS_CORETYPE is respected, with a warning when it is below
// the CPU.
#include <doctest/doctest.h>

#include <filesystem>

#include "tensor/blas_kernel.h"
#include "tensor/huge_pages.h"
#include "tests/apps/cli_run.h"

using ld::test::run_cli;

TEST_CASE("--version reports the BLAS kernel, where it came from, the SIMD level and the threads") {
  const auto r = run_cli("--version");
  CHECK(r.rc == 0);
  CHECK(r.output.find("loradiff ") != std::string::npos);
  CHECK(r.output.find("BLAS: ") != std::string::npos);
  CHECK(r.output.find("kernel " + ld::blas_kernel()) != std::string::npos);
  CHECK(r.output.find("SIMD: ") != std::string::npos);
  CHECK(r.output.find("threads: ") != std::string::npos);
}

TEST_CASE("a user's OPENBLAS_CORETYPE is respected; below the CPU it is named in one warning line") {
  const auto r = run_cli("--version", "-u LORADIFF_BLAS_SWITCHED OPENBLAS_CORETYPE=Prescott");
  CHECK(r.rc == 0);
  CHECK(r.output.find("kernel Prescott (OPENBLAS_CORETYPE=Prescott set by the user)") != std::string::npos);
  const bool capable = ld::cpu_level(ld::cpu_features()) > 0;
  CHECK((r.output.find("warning: OPENBLAS_CORETYPE=Prescott") != std::string::npos) == capable);
  CHECK(r.output.find("warning") == r.output.rfind("warning"));  // once, not again after the restart
}

TEST_CASE(
    "a generic kernel chosen by OpenBLAS on a capable CPU is replaced by the best one, said in one line") {
  const std::string best = ld::best_openblas_kernel(ld::cpu_features());
  if (best.empty()) {
    MESSAGE("skipped: this CPU has no AVX, nothing better than the generic kernel");
    return;
  }
  // LORADIFF_BLAS_PRETEND_KERNEL makes loradiff believe OpenBLAS chose Prescott (this machine's OpenBLAS
  // knows its CPU); it then restarts itself with OPENBLAS_CORETYPE set.
  const auto r = run_cli(
      "--version", "-u OPENBLAS_CORETYPE -u LORADIFF_BLAS_SWITCHED LORADIFF_BLAS_PRETEND_KERNEL=Prescott");
  CHECK(r.rc == 0);
  CHECK(r.output.find("restarting with OPENBLAS_CORETYPE=" + best) != std::string::npos);
  CHECK(r.output.find("kernel " + best + " (OPENBLAS_CORETYPE=" + best + " set by loradiff)") !=
        std::string::npos);
  // once: one line about it, no restart loop
  CHECK(r.output.find("restarting") == r.output.rfind("restarting"));
}

TEST_CASE("--version says how idle threads wait: loradiff's choice by the load, or the user's setting") {
  // loradiff's own choice: a short spin or sleep, by how idle the CPUs were at start (tensor/omp_wait.h)
  auto r = run_cli("--version", "-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u LORADIFF_OMP_WAIT");
  CHECK(r.rc == 0);
  INFO(r.output);
  const bool spin =
      r.output.find("idle threads: spin 10000, then sleep (idle cores at start)") != std::string::npos;
  const bool sleep = r.output.find("idle threads: sleep (cores busy at start)") != std::string::npos;
  const bool unknown = r.output.find("idle threads: sleep (machine load unknown)") != std::string::npos;
  CHECK(int(spin) + int(sleep) + int(unknown) == 1);
  CHECK(unknown == !std::filesystem::exists("/proc/stat"));
  // an empty GOMP_SPINCOUNT counts as not set (libgomp itself warns about it once, when it loads)
  r = run_cli("--version", "-u OMP_WAIT_POLICY -u LORADIFF_OMP_WAIT GOMP_SPINCOUNT=");
  CHECK(r.rc == 0);
  CHECK(r.output.find("set by the user") == std::string::npos);
  // the user's setting is kept and named
  r = run_cli("--version", "-u GOMP_SPINCOUNT -u LORADIFF_OMP_WAIT OMP_WAIT_POLICY=active");
  CHECK(r.rc == 0);
  CHECK(r.output.find("idle threads: OMP_WAIT_POLICY=active (set by the user)") != std::string::npos);
  r = run_cli("--version", "-u OMP_WAIT_POLICY -u LORADIFF_OMP_WAIT GOMP_SPINCOUNT=777");
  CHECK(r.output.find("idle threads: GOMP_SPINCOUNT=777 (set by the user)") != std::string::npos);
}

TEST_CASE(
    "--version names the kernel of tall, thin products; LORADIFF_THIN_GEMM chooses it, a bad value warns") {
  auto r = run_cli("--version", "LORADIFF_THIN_GEMM=off");
  CHECK(r.rc == 0);
  CHECK(r.output.find("tall, thin products: OpenBLAS") != std::string::npos);
  r = run_cli("--version", "LORADIFF_THIN_GEMM=fastest");
  CHECK(r.rc == 0);
  CHECK(r.output.find("LORADIFF_THIN_GEMM=fastest is not off, avx2, avx512 or auto; auto used") !=
        std::string::npos);
  CHECK(r.output.find("tall, thin products: ") != std::string::npos);
  r = run_cli("--version", "-u LORADIFF_THIN_GEMM");
  const bool avx512 = r.output.find("CPU: AVX-512") != std::string::npos;
  CHECK(r.output.find(avx512 ? "tall, thin products: loradiff's AVX-512 kernel"
                             : "tall, thin products: OpenBLAS") != std::string::npos);
}

TEST_CASE(
    "--version says which pages the heap uses; LORADIFF_HUGE_PAGES=off and the user's tunable are "
    "respected") {
  auto r = run_cli("--version", "-u GLIBC_TUNABLES LORADIFF_HUGE_PAGES=off");
  CHECK(r.rc == 0);
  CHECK(r.output.find("memory: 4 KB pages (LORADIFF_HUGE_PAGES=off)") != std::string::npos);
  r = run_cli("--version", "GLIBC_TUNABLES=glibc.malloc.hugetlb=0");
  CHECK(r.rc == 0);
  CHECK(r.output.find("memory: 4 KB pages (GLIBC_TUNABLES: glibc.malloc.hugetlb=0)") != std::string::npos);
  r = run_cli("--version", "-u GLIBC_TUNABLES LORADIFF_HUGE_PAGES=sometimes");
  CHECK(r.rc == 0);
  const std::string warning = "LORADIFF_HUGE_PAGES=sometimes is not on or off; on used";
  CHECK(r.output.find(warning) != std::string::npos);
  CHECK(r.output.find(warning) == r.output.rfind(warning));  // once, not again after the restart
  // the default: what the plan says for this machine, and the restarted process has the tunable
  r = run_cli("--version", "-u LORADIFF_HUGE_PAGES -u GLIBC_TUNABLES");
  CHECK(r.rc == 0);
  const std::string mode = ld::transparent_huge_page_mode();
  if (mode == "madvise")  // (on a glibc older than 2.35: 4 KB pages, and why)
    CHECK((r.output.find("memory: 2 MB pages for the heap (GLIBC_TUNABLES: glibc.malloc.hugetlb=1") !=
               std::string::npos ||
           r.output.find("memory: 4 KB pages (this glibc is older than 2.35)") != std::string::npos));
  else if (mode == "always")
    CHECK(r.output.find("memory: 2 MB pages (transparent huge pages: always)") != std::string::npos);
  else
    CHECK(r.output.find("memory: 4 KB pages") != std::string::npos);
}
