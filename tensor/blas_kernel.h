// tensor/blas_kernel.h: which GEMM kernel OpenBLAS runs, and making sure it is the best this CPU has.
//
// Every matmul and convolution of loradiff ends in OpenBLAS's sgemm. A DYNAMIC_ARCH OpenBLAS (Debian's)
// picks its kernel at load time from the CPU's family/model numbers; a CPU newer than the library
// (Debian 12 ships 0.3.21, from 2022) is not in its table, and it falls back to the generic `Prescott`
// kernel (SSE3): measured on such an AVX-512 Xeon, ~60 GFLOP/s instead of ~290 with `SkylakeX`, and a
// whole training step 2x slower. The features it needs are plain to see with cpuid, so at start-up
// loradiff compares the two:
//
//   kernel level (what the chosen kernel uses) < CPU level (what cpuid + the OS allow)
//     and the user did not set OPENBLAS_CORETYPE  ->  restart once with OPENBLAS_CORETYPE = the best
//     kernel for this CPU (OpenBLAS reads it only when it is loaded, hence the restart), then check
//     with a small GEMM against a plain loop that the new kernel computes correctly;
//   the user set OPENBLAS_CORETYPE below the CPU  ->  keep it, with a one-line warning.
//
// Levels: 0 = SSE (Prescott, Nehalem, ...), 1 = AVX (Sandybridge, Bulldozer, ...), 2 = AVX2 + FMA
// (Haswell, Zen), 3 = AVX-512 F/BW/VL/DQ/CD (SkylakeX, Cooperlake, SapphireRapids). Kernels of one level
// run the same sgemm code, so only a lower level is ever replaced. `loradiff --version` and every bench
// line report the kernel in use.
#pragma once

#include <string>
#include <string_view>

namespace ld {

// What cpuid says this CPU can do, and the OS has enabled (XGETBV: the AVX / AVX-512 register state).
struct CpuFeatures {
  bool intel = false, amd = false;
  bool avx = false, avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512cd = false;
  bool avx512_bf16 = false;
};
CpuFeatures cpu_features();

// 0..3 as above; -1 for a kernel name this table does not know (a newer OpenBLAS: left alone).
int openblas_kernel_level(std::string_view kernel);
int cpu_level(const CpuFeatures& cpu);
// The OpenBLAS 0.3.21 kernel name for the CPU's level ("Cooperlake", "SkylakeX", "Zen", "Haswell",
// "Sandybridge"), or "" for level 0 (nothing better to ask for).
std::string best_openblas_kernel(const CpuFeatures& cpu);
// "AVX-512", "AVX2+FMA", "AVX", "SSE" for a level.
const char* level_name(int level);

// What to do at start-up (a pure function, unit-tested):
//   chosen      the kernel OpenBLAS is running now (openblas_get_corename())
//   user_set    OPENBLAS_CORETYPE from the environment, or nullptr
//   ours        LORADIFF_BLAS_SWITCHED from the environment (set by loradiff when it restarted itself
//               with its own OPENBLAS_CORETYPE), or nullptr
struct BlasPlan {
  enum Action { Keep, Switch, Warn } action = Keep;
  std::string kernel;   // Switch: the OPENBLAS_CORETYPE to restart with
  std::string message;  // Switch / Warn: one line for stderr
};
BlasPlan plan_blas_kernel(std::string_view chosen, const CpuFeatures& cpu, const char* user_set,
                          const char* ours);

// The kernel OpenBLAS runs now (openblas_get_corename()), e.g. "SkylakeX".
std::string blas_kernel();
// Where the kernel came from: "chosen by OpenBLAS", "OPENBLAS_CORETYPE=<k> set by loradiff", or
// "OPENBLAS_CORETYPE=<k> set by the user".
std::string blas_kernel_origin();
// "OpenBLAS 0.3.21 kernel SkylakeX (chosen by OpenBLAS); CPU: AVX-512"
std::string blas_summary();

// A 64x80x72 sgemm through OpenBLAS against a plain double-precision loop: true when they agree to 1e-4
// relative. Run after a switch, so a kernel that computes wrongly on this CPU is never kept.
bool blas_gemm_selftest();

// Called first thing in main(): applies plan_blas_kernel. Returns true when it has set the environment
// for a restart (the caller then re-executes itself); prints the plan's one line where there is one
// (a warning only when `restarting` is false: the caller restarts anyway and the new process says it).
// After a restart it checks the switched kernel with blas_gemm_selftest and, if that fails, asks for one
// more restart with OpenBLAS's own choice (a warning says so).
bool prepare_blas_kernel(bool restarting);

}  // namespace ld
