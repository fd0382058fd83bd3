// tensor/blas_kernel.cpp: the GEMM kernel check of tensor/blas_kernel.h (cpuid vs openblas_get_corename).
#include "tensor/blas_kernel.h"

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

// OpenBLAS's own queries; weak so that a build against another CBLAS still links (then "unknown").
extern "C" [[gnu::weak]] char* openblas_get_corename(void);
extern "C" [[gnu::weak]] char* openblas_get_config(void);

namespace ld {

CpuFeatures cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.intel = std::strcmp(vendor, "GenuineIntel") == 0;
  f.amd = std::strcmp(vendor, "AuthenticAMD") == 0;
  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = c & (1u << 27);
  // XCR0: bits 1-2 = SSE + AVX state saved by the OS; bits 5-7 = AVX-512 opmask + ZMM state.
  uint64_t xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (uint64_t(hi) << 32) | lo;
  }
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;
  f.avx = os_avx && (c & (1u << 28));
  f.fma = os_avx && (c & (1u << 12));
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = os_avx && (b & (1u << 5));
    f.avx512f = os_avx512 && (b & (1u << 16));
    f.avx512dq = os_avx512 && (b & (1u << 17));
    f.avx512cd = os_avx512 && (b & (1u << 28));
    f.avx512bw = os_avx512 && (b & (1u << 30));
    f.avx512vl = os_avx512 && (b & (1u << 31));
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = os_avx512 && (a & (1u << 5));
  }
#endif
  return f;
}

int openblas_kernel_level(std::string_view kernel) {
  std::string k(kernel);
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char ch) { return std::tolower(ch); });
  struct Entry {
    const char* name;
    int level;
  };
  // OpenBLAS 0.3.21's x86-64 DYNAMIC_ARCH kernels (its driver/others/dynamic.c corename table).
  static const Entry table[] = {
      {"sapphirerapids", 3}, {"cooperlake", 3}, {"skylakex", 3},     {"haswell", 2},     {"zen", 2},
      {"sandybridge", 1},    {"bulldozer", 1},  {"piledriver", 1},   {"steamroller", 1}, {"excavator", 1},
      {"prescott", 0},       {"core2", 0},      {"penryn", 0},       {"dunnington", 0},  {"nehalem", 0},
      {"atom", 0},           {"katmai", 0},     {"coppermine", 0},   {"northwood", 0},   {"banias", 0},
      {"athlon", 0},         {"opteron", 0},    {"opteron_sse3", 0}, {"barcelona", 0},   {"nano", 0},
      {"bobcat", 0},
  };
  for (const auto& e : table)
    if (k == e.name) return e.level;
  return -1;
}

int cpu_level(const CpuFeatures& c) {
  if (c.avx512f && c.avx512bw && c.avx512vl && c.avx512dq && c.avx512cd && c.avx2 && c.fma) return 3;
  if (c.avx2 && c.fma) return 2;
  if (c.avx) return 1;
  return 0;
}

std::string best_openblas_kernel(const CpuFeatures& c) {
  switch (cpu_level(c)) {
    case 3:
      return c.avx512_bf16 ? "Cooperlake" : "SkylakeX";
    case 2:
      return c.amd ? "Zen" : "Haswell";
    case 1:
      return "Sandybridge";
    default:
      return "";
  }
}

const char* level_name(int level) {
  switch (level) {
    case 3:
      return "AVX-512";
    case 2:
      return "AVX2+FMA";
    case 1:
      return "AVX";
    case 0:
      return "SSE";
    default:
      return "unknown";
  }
}

BlasPlan plan_blas_kernel(std::string_view chosen, const CpuFeatures& cpu, const char* user_set,
                          const char* ours) {
  BlasPlan plan;
  const int have = openblas_kernel_level(chosen), can = cpu_level(cpu);
  const std::string best = best_openblas_kernel(cpu);
  const bool user = user_set && *user_set;
  // After our own restart (its kernel checked by blas_gemm_selftest), or after one that failed: nothing more.
  if (ours && (std::strcmp(ours, "failed") == 0 || (user && std::strcmp(ours, user_set) == 0))) return plan;
  if (have < 0 || have >= can || best.empty())
    return plan;  // unknown (newer) kernel, or already the best level
  const std::string k(chosen);
  if (user) {
    plan.action = BlasPlan::Warn;
    plan.message = "loradiff: warning: OPENBLAS_CORETYPE=" + std::string(user_set) + " runs OpenBLAS's " + k +
                   " GEMM kernel (" + level_name(have) + ") on a CPU with " + level_name(can) +
                   "; kept as you set it (unset it and loradiff uses " + best + ")";
    return plan;
  }
  plan.action = BlasPlan::Switch;
  plan.kernel = best;
  plan.message = "loradiff: OpenBLAS chose its " + k + " GEMM kernel (" + level_name(have) + ") on this " +
                 level_name(can) + " CPU; restarting with OPENBLAS_CORETYPE=" + best +
                 " (set OPENBLAS_CORETYPE yourself to choose)";
  return plan;
}

std::string blas_kernel() {
  if (!openblas_get_corename) return "unknown";
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

std::string blas_kernel_origin() {
  const char* user = std::getenv("OPENBLAS_CORETYPE");
  const char* ours = std::getenv("LORADIFF_BLAS_SWITCHED");
  if (user && *user) {
    if (ours && std::strcmp(ours, user) == 0)
      return std::string("OPENBLAS_CORETYPE=") + user + " set by loradiff";
    return std::string("OPENBLAS_CORETYPE=") + user + " set by the user";
  }
  return "chosen by OpenBLAS";
}

std::string blas_summary() {
  std::string lib = "BLAS";
  if (openblas_get_config) {
    // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." -> "OpenBLAS 0.3.21"
    std::string cfg = openblas_get_config();
    const auto first = cfg.find(' ');
    const auto second = first == std::string::npos ? first : cfg.find(' ', first + 1);
    lib = cfg.substr(0, second);
  }
  return lib + " kernel " + blas_kernel() + " (" + blas_kernel_origin() +
         "); CPU: " + level_name(cpu_level(cpu_features()));
}

bool blas_gemm_selftest() {
  const int M = 64, N = 80, K = 72;
  std::vector<float> A(M * K), B(K * N), C(M * N, 0.0f);
  uint32_t s = 12345;
  auto next = [&s] {
    s = s * 1664525u + 1013904223u;
    return float(s >> 8) / float(1u << 24) - 0.5f;
  };
  for (auto& v : A) v = next();
  for (auto& v : B) v = next();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
              C.data(), N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double ref = 0, mag = 0;
      for (int k = 0; k < K; ++k) {
        ref += double(A[i * K + k]) * B[k * N + j];
        mag += std::fabs(double(A[i * K + k]) * B[k * N + j]);
      }
      if (!(std::fabs(C[i * N + j] - ref) <= 1e-4 * (mag + 1e-6))) return false;
    }
  return true;
}

bool prepare_blas_kernel(bool restarting) {
  const char* user = std::getenv("OPENBLAS_CORETYPE");
  const char* ours = std::getenv("LORADIFF_BLAS_SWITCHED");
  if (ours && *ours && user && std::strcmp(ours, user) == 0) {
    // We restarted with our own choice: keep it only if it computes correctly here.
    if (blas_gemm_selftest()) return false;
    std::fprintf(stderr,
                 "loradiff: warning: OpenBLAS's %s kernel computed a wrong GEMM on this CPU; restarting with "
                 "OpenBLAS's own choice\n",
                 user);
    unsetenv("OPENBLAS_CORETYPE");
    setenv("LORADIFF_BLAS_SWITCHED", "failed", 1);
    return true;
  }
  std::string chosen = blas_kernel();
  // Test hook (tests/apps/test_cli_blas_kernel.cpp): pretend OpenBLAS chose this kernel, to exercise the
  // restart on a machine whose OpenBLAS knows its CPU. Never needed otherwise.
  if (const char* pretend = std::getenv("LORADIFF_BLAS_PRETEND_KERNEL");
      pretend && *pretend && !(user && *user))
    chosen = pretend;
  const BlasPlan plan = plan_blas_kernel(chosen, cpu_features(), user, ours);
  if (plan.action == BlasPlan::Keep) return false;
  if (plan.action == BlasPlan::Warn) {
    if (!restarting)
      std::fprintf(stderr, "%s\n", plan.message.c_str());  // else the restarted process says it
    return false;
  }
  std::fprintf(stderr, "%s\n", plan.message.c_str());
  setenv("OPENBLAS_CORETYPE", plan.kernel.c_str(), 1);
  setenv("LORADIFF_BLAS_SWITCHED", plan.kernel.c_str(), 1);
  return true;
}

}  // namespace ld
