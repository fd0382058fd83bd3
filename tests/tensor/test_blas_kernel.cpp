// tests/tensor/test_blas_kernel.cpp: the CPU-features-to-GEMM-kernel mapping (tensor/blas_kernel.h) and the
// start-up decision: switch a generic kernel on a capable CPU, respect (and warn about) a user's setting.
#include <doctest/doctest.h>

#include "tensor/blas_kernel.h"

using namespace ld;

namespace {
CpuFeatures sse_only() { return CpuFeatures{.intel = true}; }
CpuFeatures avx_only() {
  CpuFeatures c = sse_only();
  c.avx = true;
  return c;
}
CpuFeatures avx2() {
  CpuFeatures c = avx_only();
  c.avx2 = c.fma = true;
  return c;
}
CpuFeatures avx512() {
  CpuFeatures c = avx2();
  c.avx512f = c.avx512bw = c.avx512vl = c.avx512dq = c.avx512cd = true;
  return c;
}
}  // namespace

TEST_CASE("CPU features map to the best OpenBLAS 0.3.21 kernel") {
  CHECK(cpu_level(sse_only()) == 0);
  CHECK(best_openblas_kernel(sse_only()).empty());
  CHECK(best_openblas_kernel(avx_only()) == "Sandybridge");
  CHECK(best_openblas_kernel(avx2()) == "Haswell");
  CpuFeatures zen = avx2();
  zen.intel = false;
  zen.amd = true;
  CHECK(best_openblas_kernel(zen) == "Zen");
  CHECK(best_openblas_kernel(avx512()) == "SkylakeX");
  CpuFeatures cpx = avx512();
  cpx.avx512_bf16 = true;
  CHECK(best_openblas_kernel(cpx) == "Cooperlake");
  // AVX2 without FMA (some early Via/Zhaoxin parts) is only AVX for OpenBLAS's Haswell kernel
  CpuFeatures no_fma = avx2();
  no_fma.fma = false;
  CHECK(cpu_level(no_fma) == 1);
  // AVX-512F alone (Knights Landing) is not SkylakeX's AVX-512 (BW, VL, DQ): level 2
  CpuFeatures knl = avx2();
  knl.avx512f = knl.avx512cd = true;
  CHECK(cpu_level(knl) == 2);
}

TEST_CASE("OpenBLAS kernel names have levels; unknown names are -1") {
  CHECK(openblas_kernel_level("Prescott") == 0);
  CHECK(openblas_kernel_level("Nehalem") == 0);
  CHECK(openblas_kernel_level("Sandybridge") == 1);
  CHECK(openblas_kernel_level("Haswell") == 2);
  CHECK(openblas_kernel_level("Zen") == 2);
  CHECK(openblas_kernel_level("SkylakeX") == 3);
  CHECK(openblas_kernel_level("COOPERLAKE") == 3);
  CHECK(openblas_kernel_level("SapphireRapids") == 3);
  CHECK(openblas_kernel_level("GraniteRapids") == -1);
  CHECK(openblas_kernel_level("") == -1);
}

TEST_CASE("plan: a generic kernel on a capable CPU is switched, with one line saying so") {
  const BlasPlan p = plan_blas_kernel("Prescott", avx512(), nullptr, nullptr);
  CHECK(p.action == BlasPlan::Switch);
  CHECK(p.kernel == "SkylakeX");
  CHECK(p.message.find("Prescott") != std::string::npos);
  CHECK(p.message.find("OPENBLAS_CORETYPE=SkylakeX") != std::string::npos);
  CHECK(p.message.find('\n') == std::string::npos);
  CHECK(plan_blas_kernel("Sandybridge", avx2(), nullptr, nullptr).kernel == "Haswell");
  CHECK(plan_blas_kernel("Haswell", avx512(), "", nullptr).action == BlasPlan::Switch);  // empty = unset
}

TEST_CASE("plan: nothing to do when the kernel is as good as the CPU, unknown, or the CPU is plain SSE") {
  CHECK(plan_blas_kernel("SkylakeX", avx512(), nullptr, nullptr).action == BlasPlan::Keep);
  CHECK(plan_blas_kernel("Cooperlake", avx512(), nullptr, nullptr).action == BlasPlan::Keep);
  CHECK(plan_blas_kernel("SkylakeX", avx2(), nullptr, nullptr).action == BlasPlan::Keep);
  CHECK(plan_blas_kernel("Haswell", avx2(), nullptr, nullptr).action == BlasPlan::Keep);
  CHECK(plan_blas_kernel("Prescott", sse_only(), nullptr, nullptr).action == BlasPlan::Keep);
  CHECK(plan_blas_kernel("SomeFutureCore", avx512(), nullptr, nullptr).action == BlasPlan::Keep);
}

TEST_CASE("plan: a user's OPENBLAS_CORETYPE is kept, with a warning when it is below the CPU") {
  const BlasPlan w = plan_blas_kernel("Prescott", avx512(), "Prescott", nullptr);
  CHECK(w.action == BlasPlan::Warn);
  CHECK(w.kernel.empty());
  CHECK(w.message.find("OPENBLAS_CORETYPE=Prescott") != std::string::npos);
  CHECK(w.message.find("SkylakeX") != std::string::npos);
  CHECK(plan_blas_kernel("SkylakeX", avx512(), "SkylakeX", nullptr).action == BlasPlan::Keep);
}

TEST_CASE("plan: after loradiff's own restart (or a failed one) it never switches again") {
  CHECK(plan_blas_kernel("SkylakeX", avx512(), "SkylakeX", "SkylakeX").action == BlasPlan::Keep);
  // OpenBLAS could not honour the request: no restart loop
  CHECK(plan_blas_kernel("Prescott", avx512(), "SkylakeX", "SkylakeX").action == BlasPlan::Keep);
  CHECK(plan_blas_kernel("Prescott", avx512(), nullptr, "failed").action == BlasPlan::Keep);
  // a marker inherited from a parent loradiff does not hide a user's own (different) setting
  CHECK(plan_blas_kernel("Prescott", avx512(), "Prescott", "SkylakeX").action == BlasPlan::Warn);
}

TEST_CASE("the GEMM self-test passes with the kernel in use") { CHECK(blas_gemm_selftest()); }

TEST_CASE("this CPU's features are consistent") {
  const CpuFeatures c = cpu_features();
  if (c.avx512f) CHECK(c.avx2);
  if (c.avx2) CHECK(c.avx);
  CHECK(!blas_kernel().empty());
  CHECK(blas_summary().find("kernel") != std::string::npos);
}
