// tensor/simd_dispatch.cpp: which instruction set the dispatched loops use: detected at start,
// capped by the environment or set_simd_level.
#include "tensor/simd_dispatch.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "tensor/blas_kernel.h"
#include "tensor/error.h"

namespace ld {
namespace {

SimdLevel detect() {
#if LORADIFF_SIMD_DISPATCH
  __builtin_cpu_init();
  // AVX-512 also needs the OS to save the zmm registers: cpu_features() checks XGETBV
  const CpuFeatures f = cpu_features();
  if (f.avx512f && f.avx512dq && f.avx512bw && f.avx512vl && f.avx2 && f.fma) return SimdLevel::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::Avx2;
#endif
  return SimdLevel::Baseline;
}

SimdLevel min_level(SimdLevel a, SimdLevel b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

SimdLevel from_environment() {
  const SimdLevel best = simd_level_supported();
  const char* env = std::getenv("LORADIFF_SIMD");
  if (!env || !*env) return best;
  for (SimdLevel l : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512})
    if (std::strcmp(env, simd_level_name(l)) == 0) return min_level(l, best);
  // A performance knob, read before main: warn and go on (as OpenMP does with a bad OMP_* value).
  warn_knob_once("LORADIFF_SIMD", str_cat("LORADIFF_SIMD='", env, "' is not one of baseline, avx2, avx512; using ",
                                          simd_level_name(best)));
  return best;
}

SimdLevel g_level = from_environment();

}  // namespace

SimdLevel simd_level_supported() {
  static const SimdLevel best = detect();
  return best;
}

SimdLevel simd_level() { return g_level; }

void set_simd_level(SimdLevel level) { g_level = min_level(level, simd_level_supported()); }

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512:
      return "avx512";
    case SimdLevel::Avx2:
      return "avx2";
    default:
      return "baseline";
  }
}

const char* simd_description() {
#ifdef LORADIFF_NATIVE_BUILD
  return "march=native";
#else
  return simd_level_name(simd_level());
#endif
}

}  // namespace ld
