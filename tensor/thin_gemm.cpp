// tensor/thin_gemm.cpp: the register-blocked kernel of thin_gemm.h, for AVX-512 and for AVX2.
//
// Shapes: M rows of A and C, K = A's columns = B's rows, N = columns of B and C,
// MR = rows of C per kernel call, NV = vectors of C per row per call. A row's last vector may be
// partly outside C: its loads and stores are masked.
#include "tensor/thin_gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tensor/blas_kernel.h"
#include "tensor/parallel.h"
#include "tensor/reference.h"
#include "tensor/simd_dispatch.h"

#if LORADIFF_SIMD_DISPATCH || (defined(__x86_64__) && defined(__AVX2__))
#define LORADIFF_THIN_GEMM 1
#include <immintrin.h>
#else
#define LORADIFF_THIN_GEMM 0
#endif

namespace ld {

namespace {

constexpr int64_t kRowBlock = 96;    // thin_gemm: rows of A and C per block of work (96 K floats of A)
constexpr int64_t kSumChunk = 1024;  // thin_gemm_tn: rows of A and B summed into one partial product
constexpr int64_t kSubBlock = 128;   // thin_gemm_tn: rows of A and B that every tile of C runs over in turn

enum class Isa { None, Avx2, Avx512 };

// What set_thin_gemm_choice (tests, benchmarks) asked for; Unread: LORADIFF_THIN_GEMM's choice.
enum class Choice { Unread, Auto, Off, Avx2, Avx512 };
std::atomic<Choice> g_choice{Choice::Unread};

Choice parse_choice(const char* e, bool warn) {
  const std::string v = e ? e : "";
  if (v.empty() || v == "auto") return Choice::Auto;
  if (v == "off") return Choice::Off;
  if (v == "avx2") return Choice::Avx2;
  if (v == "avx512") return Choice::Avx512;
  if (warn) std::fprintf(stderr, "loradiff: LORADIFF_THIN_GEMM=%s is not off, avx2, avx512 or auto; auto used\n", e);
  return Choice::Auto;
}

Isa isa_now() {
#if LORADIFF_THIN_GEMM
  if (use_reference_kernels()) return Isa::None;
#if LORADIFF_SIMD_DISPATCH
  if (simd_level() == SimdLevel::Baseline) return Isa::None;  // LORADIFF_SIMD=baseline caps it too
#endif
  static const CpuFeatures f = cpu_features();
  static const Choice from_env = parse_choice(std::getenv("LORADIFF_THIN_GEMM"), true);  // warns once
  const Choice c = g_choice.load(std::memory_order_relaxed);
  switch (c == Choice::Unread ? from_env : c) {
    // Auto: the AVX-512 kernel where the CPU has it. The AVX2 kernel only on request: against
    // OpenBLAS's own AVX2 (Haswell) kernel it measured 0.83-1.37x the time of the products and a
    // training step 2 % slower (docs/performance.md), so an AVX2 CPU keeps OpenBLAS.
    case Choice::Auto:
    case Choice::Avx512: return f.avx512f ? Isa::Avx512 : Isa::None;
    case Choice::Avx2: return f.avx2 && f.fma ? Isa::Avx2 : Isa::None;
    default: return Isa::None;
  }
#else
  return Isa::None;
#endif
}

#if LORADIFF_THIN_GEMM

// One kernel call's operands: element (r, k) of A is A[r * ars + k * aks] (rows of A: ars = lda,
// aks = 1; A read transposed: ars = 1, aks = lda), row k of B starts at B + k * ldb, row r of C at
// C + r * ldc. C starts as bias (or 0), plus C itself when `accumulate`; a residual R (row r at
// R + r * ldr) is added to the finished sum, as a separate add would.
struct Tile {
  const float* A;
  int64_t ars, aks;
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc;
  const float* bias;
  bool accumulate;
  const float* R = nullptr;
  int64_t ldr = 0;
  Tile at(int64_t i) const {
    return {A + i * ars, ars, aks, B, ldb, C + i * ldc, ldc, bias, accumulate, R ? R + i * ldr : nullptr, ldr};
  }
  Tile columns(int64_t j) const {
    return {A, ars, aks, B + j, ldb, C + j, ldc, bias ? bias + j : nullptr, accumulate, R ? R + j : nullptr, ldr};
  }
};

// Rows of B fetched ahead into L1 while the kernel works on row k (one prefetch per vector of the
// panel, for row k + 8). B's rows lie ldb floats apart; with ldb a multiple of 128 floats (N = 128:
// 512 bytes) a 64-column panel uses only half of L1's sets and does not stay there past K = 96 or
// so, and the hardware prefetcher does not follow a stride of one or two lines per row. Measured
// (one thread, A and B in L2, 2026-12-01): the Winograd products of the mnist-t2i UNet (16 rows,
// K = 64 ... 256, N = 64 or 128) 1.05-1.23x faster, dense layers' blocks (96 rows, K = 512, N = 128)
// 1.27x; products whose B stays in L1 within 3 % either way. 6 to 16 rows ahead measured alike.
constexpr int64_t kPrefetchRows = 8;

// --- AVX-512: vectors of 16 floats, up to 4 per row (64 columns), 6 x 4 accumulators of 32 registers.
// The r / v loops are unrolled by pragma: GCC then keeps c[][] in registers; without it, it stored
// all 24 accumulators to the stack on every k (measured: the kernel at half speed).
// `last`: the lanes of a row's last vector that are columns of C (loads and stores are masked).
template <int MR, int NV>
[[gnu::target("avx512f"), gnu::always_inline]] inline void tile512(int64_t K, const Tile& t, __mmask16 last) {
  __m512 c[MR][NV];
  #pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v + 1 < NV ? __mmask16(0xFFFF) : last;
      c[r][v] = t.bias ? _mm512_maskz_loadu_ps(m, t.bias + 16 * v) : _mm512_setzero_ps();
      if (t.accumulate) c[r][v] = _mm512_add_ps(c[r][v], _mm512_maskz_loadu_ps(m, t.C + r * t.ldc + 16 * v));
    }
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NV];
    const float* ahead = t.B + std::min(k + kPrefetchRows, K - 1) * t.ldb;  // see kPrefetchRows
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(ahead + 16 * v), _MM_HINT_T0);
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      b[v] = _mm512_maskz_loadu_ps(v + 1 < NV ? __mmask16(0xFFFF) : last, t.B + k * t.ldb + 16 * v);
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(t.A[r * t.ars + k * t.aks]);
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(a, b[v], c[r][v]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v + 1 < NV ? __mmask16(0xFFFF) : last;
      if (t.R) c[r][v] = _mm512_add_ps(c[r][v], _mm512_maskz_loadu_ps(m, t.R + r * t.ldr + 16 * v));
      _mm512_mask_storeu_ps(t.C + r * t.ldc + 16 * v, m, c[r][v]);
    }
}

// The last rows of a panel, fewer than MR: one kernel call for exactly `left` rows.
template <int NV, int R>
[[gnu::target("avx512f"), gnu::always_inline]] inline void rest512(int64_t left, int64_t K, const Tile& t,
                                                                   __mmask16 last) {
  if constexpr (R > 0) {
    if (left == R)
      tile512<R, NV>(K, t, last);
    else
      rest512<NV, R - 1>(left, K, t, last);
  }
}

// Rows [0, rows) of C in one panel of NV vectors: MR rows at a time, then the remainder.
template <int NV, int MR = NV >= 3 ? 24 / NV : 12>
[[gnu::target("avx512f")]] void panel512(int64_t rows, int64_t K, const Tile& t, __mmask16 last) {
  int64_t i = 0;
  for (; i + MR <= rows; i += MR) tile512<MR, NV>(K, t.at(i), last);
  rest512<NV, MR - 1>(rows - i, K, t.at(i), last);
}

// Rows [0, rows) of C, all N columns: panels of kThinPanel = 64.
[[gnu::target("avx512f")]] void rows512(int64_t rows, int64_t N, int64_t K, const Tile& t) {
  for (int64_t j = 0; j < N; j += kThinPanel) {
    const int64_t w = std::min(kThinPanel, N - j), nv = (w + 15) / 16, tail = w - 16 * (nv - 1);
    const __mmask16 last = static_cast<__mmask16>((1u << tail) - 1);
    const Tile p = t.columns(j);
    switch (nv) {
      case 4: panel512<4>(rows, K, p, last); break;
      case 3: panel512<3>(rows, K, p, last); break;
      case 2: panel512<2>(rows, K, p, last); break;
      default: panel512<1>(rows, K, p, last); break;
    }
  }
}

// --- AVX2 + FMA: vectors of 8 floats, up to 2 per row (16 columns), 6 x 2 accumulators (16
// registers: 12 accumulators, 2 of B, 1 of A). `last`: the lanes of a row's last vector in C.
// rest256 / panel256 repeat rest512 / panel512 line for line on purpose: a function that inlines an
// always_inline kernel must carry the kernel's own gnu::target, so one template cannot serve both.
template <int MR, int NV>
[[gnu::target("avx2,fma"), gnu::always_inline]] inline void tile256(int64_t K, const Tile& t, __m256i last) {
  const __m256i all = _mm256_set1_epi32(-1);
  __m256 c[MR][NV];
  #pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const __m256i m = v + 1 < NV ? all : last;
      c[r][v] = t.bias ? _mm256_maskload_ps(t.bias + 8 * v, m) : _mm256_setzero_ps();
      if (t.accumulate) c[r][v] = _mm256_add_ps(c[r][v], _mm256_maskload_ps(t.C + r * t.ldc + 8 * v, m));
    }
  for (int64_t k = 0; k < K; ++k) {
    __m256 b[NV];
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) b[v] = _mm256_maskload_ps(t.B + k * t.ldb + 8 * v, v + 1 < NV ? all : last);
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(t.A + r * t.ars + k * t.aks);
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) c[r][v] = _mm256_fmadd_ps(a, b[v], c[r][v]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const __m256i m = v + 1 < NV ? all : last;
      if (t.R) c[r][v] = _mm256_add_ps(c[r][v], _mm256_maskload_ps(t.R + r * t.ldr + 8 * v, m));
      _mm256_maskstore_ps(t.C + r * t.ldc + 8 * v, m, c[r][v]);
    }
}

template <int NV, int R>
[[gnu::target("avx2,fma"), gnu::always_inline]] inline void rest256(int64_t left, int64_t K, const Tile& t,
                                                                    __m256i last) {
  if constexpr (R > 0) {
    if (left == R)
      tile256<R, NV>(K, t, last);
    else
      rest256<NV, R - 1>(left, K, t, last);
  }
}

template <int NV, int MR = 6>
[[gnu::target("avx2,fma")]] void panel256(int64_t rows, int64_t K, const Tile& t, __m256i last) {
  int64_t i = 0;
  for (; i + MR <= rows; i += MR) tile256<MR, NV>(K, t.at(i), last);
  rest256<NV, MR - 1>(rows - i, K, t.at(i), last);
}

[[gnu::target("avx2,fma")]] void rows256(int64_t rows, int64_t N, int64_t K, const Tile& t) {
  for (int64_t j = 0; j < N; j += 16) {
    const int64_t w = std::min<int64_t>(16, N - j), nv = (w + 7) / 8, tail = w - 8 * (nv - 1);
    const __m256i last = _mm256_setr_epi32(0 < tail ? -1 : 0, 1 < tail ? -1 : 0, 2 < tail ? -1 : 0,
                                           3 < tail ? -1 : 0, 4 < tail ? -1 : 0, 5 < tail ? -1 : 0,
                                           6 < tail ? -1 : 0, 7 < tail ? -1 : 0);
    const Tile p = t.columns(j);
    if (nv == 2)
      panel256<2>(rows, K, p, last);
    else
      panel256<1>(rows, K, p, last);
  }
}

void rows_any(Isa isa, int64_t rows, int64_t N, int64_t K, const Tile& t) {
  if (isa == Isa::Avx512)
    rows512(rows, N, K, t);
  else
    rows256(rows, N, K, t);
}

#endif  // LORADIFF_THIN_GEMM

}  // namespace

void set_thin_gemm_choice(const char* choice) { g_choice.store(parse_choice(choice, false)); }

const char* thin_gemm_isa() {
  switch (isa_now()) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "";
  }
}

std::string thin_gemm_description() {
  const std::string isa = thin_gemm_isa();
  if (isa == "avx512") return "loradiff's AVX-512 kernel (tensor/thin_gemm.h)";
  if (isa == "avx2") return "loradiff's AVX2 kernel (tensor/thin_gemm.h)";
  if (use_reference_kernels()) return "plain loops (LORADIFF_KERNELS=reference)";
  return "OpenBLAS (loradiff's own kernel: AVX-512 CPUs only by default; LORADIFF_THIN_GEMM)";
}

bool thin_gemm_applies(int64_t M, int64_t N, int64_t K) {
  // tall (M >= 4 max(N, K)) and thin (N, K <= 512): measured 0.62-0.96x OpenBLAS's time at the
  // mnist-t2i shapes; on square products OpenBLAS's packed kernel is faster (1024^3: ~280 GFLOP/s
  // against ~100 here)
  return isa_now() != Isa::None && M >= 512 && N >= 1 && K >= 1 && N <= 512 && K <= 512 &&
         M >= 4 * std::max(N, K);
}

bool thin_gemm_tn_applies(int64_t M, int64_t N, int64_t K) {
  // measured (`loradiff bench ops`, "weight_gradient"): 0.57-0.98x OpenBLAS's time up to 64 x 256 results,
  // even at 128 x 128, 1.16-1.19x at 128 x 512: OpenBLAS for the larger ones
  return isa_now() != Isa::None && K >= 1024 && M >= 1 && N >= 1 && M * N <= 128 * 128;
}

void thin_gemm(const float* A, int64_t lda, const float* B, int64_t ldb, bool b_transposed, float* C,
               int64_t ldc, int64_t M, int64_t N, int64_t K, const float* bias, bool accumulate, const float* R,
               int64_t ldr) {
#if LORADIFF_THIN_GEMM
  const Isa isa = isa_now();
  if (isa == Isa::None) fail("thin_gemm: not available on this CPU / build (check thin_gemm_isa() first)");
  if (M <= 0 || N <= 0) return;
  // A transposed B (a weight W (N, K) read as W^T) is copied once into rows of K x N.
  std::vector<float> packed;
  if (b_transposed) {
    packed.resize(static_cast<size_t>(K * N));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) packed[static_cast<size_t>(k * N + n)] = B[n * ldb + k];
    B = packed.data();
    ldb = N;
  }
  const int64_t blocks = (M + kRowBlock - 1) / kRowBlock;
  const bool threads = !omp_in_parallel() && num_threads() > 1 && M * N * K >= (int64_t{1} << 20);
#pragma omp parallel for schedule(dynamic) if (threads) num_threads(num_threads())
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t i0 = blk * kRowBlock;
    rows_any(isa, std::min(kRowBlock, M - i0), N, K,
             Tile{A + i0 * lda, lda, 1, B, ldb, C + i0 * ldc, ldc, bias, accumulate, R ? R + i0 * ldr : nullptr, ldr});
  }
#else
  (void)A, (void)lda, (void)B, (void)ldb, (void)b_transposed, (void)C, (void)ldc, (void)M, (void)N, (void)K,
      (void)bias, (void)accumulate, (void)R, (void)ldr;
  fail("thin_gemm: not available in this build");
#endif
}

void thin_gemm_serial(const float* A, int64_t lda, bool a_transposed, const float* B, int64_t ldb, float* C,
                      int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate) {
#if LORADIFF_THIN_GEMM
  const Isa isa = isa_now();
  if (isa == Isa::None)
    fail("thin_gemm_serial: not available on this CPU / build (check thin_gemm_isa() first)");
  if (M <= 0 || N <= 0) return;
  rows_any(isa, M, N, K,
           Tile{A, a_transposed ? 1 : lda, a_transposed ? lda : 1, B, ldb, C, ldc, nullptr, accumulate});
#else
  (void)A, (void)lda, (void)a_transposed, (void)B, (void)ldb, (void)C, (void)ldc, (void)M, (void)N, (void)K,
      (void)accumulate;
  fail("thin_gemm_serial: not available in this build");
#endif
}

void thin_gemm_tn(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t M,
                  int64_t N, int64_t K, bool accumulate) {
#if LORADIFF_THIN_GEMM
  const Isa isa = isa_now();
  if (isa == Isa::None) fail("thin_gemm_tn: not available on this CPU / build (check thin_gemm_isa() first)");
  if (M <= 0 || N <= 0) return;
  // K is cut into chunks of kSumChunk rows (by the shape alone); each chunk's partial product is
  // summed in sub-blocks of kSubBlock rows of A and B (they stay in L1 / L2 while every tile of C
  // runs over them), and the partials are added in chunk order at the end.
  const int64_t chunks = std::max<int64_t>((K + kSumChunk - 1) / kSumChunk, 1), MN = M * N;
  std::vector<float> part(static_cast<size_t>(chunks * MN));
  const bool threads = !omp_in_parallel() && num_threads() > 1 && chunks > 1 && MN * K >= (int64_t{1} << 20);
#pragma omp parallel for schedule(static) if (threads) num_threads(num_threads())
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t k0 = ch * kSumChunk, k1 = std::min(K, k0 + kSumChunk);
    float* P = part.data() + ch * MN;
    for (int64_t s = k0; s < k1; s += kSubBlock)
      rows_any(isa, M, N, std::min(kSubBlock, k1 - s),
               Tile{A + s * lda, 1, lda, B + s * ldb, ldb, P, N, nullptr, /*accumulate=*/s > k0});
    if (k1 <= k0) std::fill(P, P + MN, 0.0f);
  }
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (!accumulate) std::fill(c, c + N, 0.0f);
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const float* p = part.data() + ch * MN + i * N;
      for (int64_t j = 0; j < N; ++j) c[j] += p[j];
    }
  }
#else
  (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc, (void)M, (void)N, (void)K, (void)accumulate;
  fail("thin_gemm_tn: not available in this build");
#endif
}

void serial_product(bool own_kernel, const float* A, int64_t lda, bool a_transposed, const float* B,
                    int64_t ldb, float* C, int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (own_kernel) return thin_gemm_serial(A, lda, a_transposed, B, ldb, C, ldc, M, N, K, accumulate);
  const auto i = [](int64_t v) { return static_cast<int>(v); };
  cblas_sgemm(CblasRowMajor, a_transposed ? CblasTrans : CblasNoTrans, CblasNoTrans, i(M), i(N), i(K), 1.0f,
              A, i(lda), B, i(ldb), accumulate ? 1.0f : 0.0f, C, i(ldc));
}

}  // namespace ld
