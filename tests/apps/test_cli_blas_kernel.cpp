// tests/apps/test_cli_blas_kernel.cpp: `loradiff --version` names the GEMM kernel, the SIMD level and how
// idle threads wait (tensor/omp_wait.h); a generic kernel on a capable CPU is replaced by a restart
// (tensor/blas_kernel.h), and a user's OPENBLAS_CORETYPE is respected, with a warning when it is below
// the CPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "tensor/blas_kernel.h"
#include "tensor/huge_pages.h"
#include "tensor/simd_dispatch.h"
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
      r.output.find("idle threads: spin 300000, then sleep (idle cores at start)") != std::string::npos;
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

TEST_CASE("--version says which pages the heap uses; LORADIFF_HUGE_PAGES=off and the user's tunable are respected") {
  // what to expect on this machine (its transparent huge page mode and glibc): the plan itself
  const auto expect = [](const char* tunables, const char* choice) {
    return "memory: " + ld::huge_page_plan_here(tunables, choice).description;
  };
  auto r = run_cli("--version", "-u GLIBC_TUNABLES -u LORADIFF_HUGE_PAGES_SET LORADIFF_HUGE_PAGES=off");
  CHECK(r.rc == 0);
  CHECK(r.output.find(expect(nullptr, "off")) != std::string::npos);
  r = run_cli("--version", "-u LORADIFF_HUGE_PAGES -u LORADIFF_HUGE_PAGES_SET GLIBC_TUNABLES=glibc.malloc.hugetlb=0");
  CHECK(r.rc == 0);
  CHECK(r.output.find(expect("glibc.malloc.hugetlb=0", nullptr)) != std::string::npos);
  // the default: the restarted process runs with what the plan added
  r = run_cli("--version", "-u LORADIFF_HUGE_PAGES -u GLIBC_TUNABLES -u LORADIFF_HUGE_PAGES_SET");
  CHECK(r.rc == 0);
  const ld::HugePagePlan plan = ld::huge_page_plan_here(nullptr, nullptr);
  CHECK(r.output.find("memory: " + (plan.set ? ld::huge_page_plan_here(plan.tunables.c_str(), nullptr).description
                                             : plan.description)) != std::string::npos);
  if (ld::transparent_huge_page_mode() == "madvise")  // (on a glibc older than 2.35: 4 KB pages, and why)
    CHECK((plan.huge || plan.description == "4 KB pages (this glibc is older than 2.35)"));
}

TEST_CASE("a bad LORADIFF_HUGE_PAGES warns once, also when another part of start-up restarts afterwards") {
  // the BLAS kernel's restart comes after the pages' decision: the warning must not repeat there
  const std::string warning = "LORADIFF_HUGE_PAGES=sometimes is not on or off; on used";
  for (const char* env : {"-u GLIBC_TUNABLES -u LORADIFF_HUGE_PAGES_SET LORADIFF_HUGE_PAGES=sometimes",
                          "-u LORADIFF_HUGE_PAGES_SET -u OPENBLAS_CORETYPE -u LORADIFF_BLAS_SWITCHED "
                          "GLIBC_TUNABLES=glibc.malloc.hugetlb=1 OMP_WAIT_POLICY=passive "
                          "LORADIFF_BLAS_PRETEND_KERNEL=Prescott LORADIFF_HUGE_PAGES=sometimes"}) {
    CAPTURE(env);
    const auto r = run_cli("--version", env);
    CHECK(r.rc == 0);
    CHECK(r.output.find(warning) != std::string::npos);
    CHECK(r.output.find(warning) == r.output.rfind(warning));
  }
}

TEST_CASE("the pages' restart happens once: a restarted process that lost GLIBC_TUNABLES does not restart again") {
  // LORADIFF_HUGE_PAGES_SET is the mark of our restart; with it and no tunable (as when glibc drops
  // GLIBC_TUNABLES in secure mode) loradiff goes on as it is instead of restarting for ever
  const auto r = run_cli("--version", "-u GLIBC_TUNABLES -u LORADIFF_HUGE_PAGES LORADIFF_HUGE_PAGES_SET=1", 20);
  CHECK(r.rc == 0);
  CHECK(r.output.find("memory: " + ld::huge_page_plan_here(nullptr, nullptr).description) != std::string::npos);
}

TEST_CASE("LORADIFF_SIMD caps the element-wise loops' level; --version names it; a bad value warns") {
  const bool avx512 = ld::simd_level_supported() == ld::SimdLevel::Avx512;
  const std::string avx2 = ld::simd_level_name(std::min(ld::SimdLevel::Avx2, ld::simd_level_supported()));
  auto r = run_cli("--version", "LORADIFF_SIMD=avx2");
  CHECK(r.rc == 0);
  CHECK(r.output.find("SIMD: " + avx2 + " (element-wise loops)") != std::string::npos);
  r = run_cli("--version", "LORADIFF_SIMD=baseline");
  CHECK(r.output.find("SIMD: baseline (element-wise loops)") != std::string::npos);
  r = run_cli("--version", "LORADIFF_SIMD=avx512");
  CHECK(r.output.find(avx512 ? "SIMD: avx512 (exp / erf on data in cache), avx2 (other element-wise loops)"
                             : "(element-wise loops)") != std::string::npos);
  r = run_cli("--version", "LORADIFF_SIMD=avx1024");
  CHECK(r.rc == 0);
  const std::string warning = "LORADIFF_SIMD='avx1024' is not one of baseline, avx2, avx512";
  CHECK(r.output.find(warning) != std::string::npos);
  CHECK(r.output.find(warning) == r.output.rfind(warning));  // once, not again after the restart
  r = run_cli("--version", "LORADIFF_KERNELS=slow");
  const std::string kernels = "LORADIFF_KERNELS='slow' is not one of fast, reference; using fast";
  CHECK(r.output.find(kernels) != std::string::npos);
  CHECK(r.output.find(kernels) == r.output.rfind(kernels));
}
