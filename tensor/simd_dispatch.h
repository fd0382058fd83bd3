// tensor/simd_dispatch.h: one loop, compiled for two x86-64 instruction sets, chosen at run time.
//
// A release build targets baseline x86-64 so that the binary runs on any x86-64 CPU; its
// vector instructions are then SSE2, 4 floats wide, and on a CPU with AVX2 + FMA (8 floats
// wide, every x86-64 CPU since 2013-2015) the element-wise loops of SiLU, GELU, softmax and the
// norms leave half of it unused. PyTorch solves this with "CPU capability dispatch" (ATen
// compiles its kernels once per level, DEFAULT / AVX2 / AVX512, and picks one at start-up); we
// do the same for those loops:
//
//   simd_dispatch([&] { for (int64_t i = 0; i < n; ++i) y[i] = unary_f<op>(x[i]); });
//
// The lambda is inlined, with everything it calls (gnu::flatten), into two functions that
// differ only in their gnu::target attribute, so the compiler vectorises the same source twice;
// simd_dispatch calls the AVX2 one when this CPU has AVX2 and FMA. Results may differ in the
// last bits between levels (FMA rounds once where mul + add rounds twice; wider vectors sum in
// another order), never more. Measured (docs/results.md): a mnist-t2i training step 6-10 %
// faster. Most of these loops stream tensors larger than the caches, and for them AVX-512 gave
// nothing more (memory is the limit). The Winograd transforms (tensor/winograd_tiles.h), loops over
// channels in the L1 cache, are dispatched here too: AVX-512 was no faster than AVX2 for them
// (`loradiff bench winograd`, 2026-11-30: forward 1.02x, weight gradient 0.99x the AVX2 time).
//
// simd_dispatch_compute is for the few loops whose data is already in cache and whose cost is
// the arithmetic of exp and erf: attention's softmax on its score tile, GELU on a block of fc1's
// output (tensor/matmul.h gemm_bias_gelu), and GroupNorm+SiLU's second pass over a group it has
// just read. There the third level, AVX-512 (16 floats wide, F + DQ + BW + VL), runs where the CPU
// has it: a DDIM step 2-4 % faster, a training step 2-3 % (docs/results.md). Those loops are
// written so that every element is computed alone and sums run in fixed lanes: their bits are the
// same at AVX2 and AVX-512.
//
// LORADIFF_SIMD=baseline|avx2|avx512 (or set_simd_level) caps the level: for tests that compare
// the levels, and for measuring what each one gives. Without x86-64 and GCC or Clang, or with
// -march=native (LORADIFF_NATIVE: everything is compiled for this CPU already), simd_dispatch
// simply calls f.
#pragma once

namespace ld {

enum class SimdLevel { Baseline, Avx2, Avx512 };

// The level used now: the best this CPU supports, capped by LORADIFF_SIMD / set_simd_level.
SimdLevel simd_level();
// The best level this CPU (and this build) supports.
SimdLevel simd_level_supported();
// Cap the level (for tests and benchmarks); a level above simd_level_supported() is lowered to it.
void set_simd_level(SimdLevel level);
const char* simd_level_name(SimdLevel level);
// What the element-wise loops run as, for reports: the level's name (the arithmetic-bound loops
// run at it; the others at most at avx2), or "march=native" in a -march=native build (everything
// compiled for this CPU, nothing dispatched).
const char* simd_description();

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LORADIFF_NATIVE_BUILD)
#define LORADIFF_SIMD_DISPATCH 1

namespace simd_detail {
template <class F>
[[gnu::target("avx2,fma"), gnu::flatten]] void run_avx2(const F& f) {
  f();
}
template <class F>
[[gnu::target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"), gnu::flatten]] void run_avx512(const F& f) {
  f();
}
template <class F>
[[gnu::flatten]] void run_baseline(const F& f) {
  f();
}
}  // namespace simd_detail

namespace simd_detail {
// f at the level in use, but at most kCap (an AVX-512 copy is compiled only where kCap allows it).
template <SimdLevel kCap, class F>
void dispatch_up_to(const F& f) {
  const SimdLevel level = simd_level();
  if constexpr (kCap == SimdLevel::Avx512)
    if (level == SimdLevel::Avx512) return run_avx512(f);
  if (level != SimdLevel::Baseline) return run_avx2(f);
  run_baseline(f);
}
}  // namespace simd_detail

// Loops over memory (most element-wise ops): AVX2 at most.
template <class F>
void simd_dispatch(const F& f) {
  simd_detail::dispatch_up_to<SimdLevel::Avx2>(f);
}

// Loops of exp / erf arithmetic on data in cache: AVX-512 where the CPU has it.
template <class F>
void simd_dispatch_compute(const F& f) {
  simd_detail::dispatch_up_to<SimdLevel::Avx512>(f);
}

#else
#define LORADIFF_SIMD_DISPATCH 0

template <class F>
void simd_dispatch(const F& f) {
  f();
}
template <class F>
void simd_dispatch_compute(const F& f) {
  f();
}

#endif

}  // namespace ld
