// tensor/thin_gemm.h: a register-blocked GEMM for tall, thin products
//   C (M, N) = A (M, K) @ B (K, N)  [+ C]  [+ bias on every row]
// with many rows and few columns: a transformer's projections on pixel tokens (M = batch x H x W
// = 12,544 rows at 14x14, batch 64; K, N = 64 ... 512), forward (X W^T + b) and input gradient
// (dY W).
//
// OpenBLAS packs both operands into panels before its kernel runs. With K = 64 that packing is
// as much memory traffic as the arithmetic is work, and such products run at 170-190 GFLOP/s on
// the development machine (2 threads) against ~280 for a square one. Here A is read where it lies,
// one row block at a time, and so is B (K x N: at most a few hundred KB, it stays in L2), except a
// transposed B (a weight W read as W^T), which is copied once per call into rows; every element of
// A is broadcast into a register and multiplied with a row of B held in vector registers:
//
//   for each block of MR rows of C and panel of 16 NV columns:      (MR x NV accumulators)
//     c[r][v] = bias[v] or C[r][v] or 0
//     for k in 0..K:  b[v] = Bp[k, panel v];  for r: c[r][v] += A[r, k] * b[v]
//     C[r][v] = c[r][v]
//
// MR x NV accumulators fill the vector registers (AVX-512: 6 x 4 of 32; AVX2: 6 x 2 of 16), so
// each loaded B vector serves MR rows and each broadcast A value NV vectors. Measured at the
// mnist-t2i shapes (`loradiff bench ops`, 2 threads): 0.57-0.96x OpenBLAS's time with AVX-512.
//
// Every element of C is summed in the order k = 0, 1, ..., K-1 by one thread, so the result has
// the same bits for every thread count; against OpenBLAS it differs by rounding only. The plain
// version of the same maths is gemm_reference (tensor/reference.h); tests/tensor/test_thin_gemm.cpp
// compares the two at every kernel shape and remainder.
#pragma once
#include <cstdint>
#include <string>

namespace ld {

// Which instruction set thin_gemm runs now: "avx512", "avx2", or "" (OpenBLAS does every product).
// By default the AVX-512 kernel where the CPU has it, else none (the AVX2 kernel is no faster than
// OpenBLAS's own AVX2 kernel; it runs only when asked for). LORADIFF_THIN_GEMM=off|avx2|avx512|auto
// chooses (for measuring what each gives); LORADIFF_SIMD=baseline and LORADIFF_KERNELS=reference
// turn it off too.
const char* thin_gemm_isa();
// For --version: "loradiff's AVX-512 kernel (tensor/thin_gemm.h)", or "OpenBLAS (<why>)".
std::string thin_gemm_description();
// The same choice from code (tests, `bench ops`): "off", "avx2", "avx512", "auto".
void set_thin_gemm_choice(const char* choice);

// Whether a product of this shape goes to thin_gemm: the ISA is available, there are many rows
// (M >= 512, M >= 4 max(N, K)) and B is small (K, N <= 512), where it was measured faster than
// OpenBLAS (0.62-0.96x its time at the mnist-t2i shapes, `loradiff bench ops`); square products stay
// on OpenBLAS.
bool thin_gemm_applies(int64_t M, int64_t N, int64_t K);

// C (M x N, row stride ldc) = A (M x K, row stride lda) @ op(B) [+ C if accumulate] [+ bias (N)]
//                             [+ R (M x N, row stride ldr): a residual added to the finished sum]
// op(B) (K x N) is B[k * ldb + n], or B[n * ldb + k] when b_transposed (a weight W (N, K) read as
// W^T). Threads split the rows unless called inside a parallel region. Call only where
// thin_gemm_isa() is non-empty.
void thin_gemm(const float* A, int64_t lda, const float* B, int64_t ldb, bool b_transposed, float* C,
               int64_t ldc, int64_t M, int64_t N, int64_t K, const float* bias, bool accumulate,
               const float* R = nullptr, int64_t ldr = 0);

// Columns of C (and B) that the AVX-512 kernel takes per panel: each kernel call runs over the rows
// in one panel of up to 4 vectors of 16. A caller that stores B panel by panel (Winograd's U,
// tensor/winograd.cpp) uses the same width.
inline constexpr int64_t kThinPanel = 64;

// One small product in the calling thread, with no copies and no threads of its own: for products
// run many times inside a parallel region (attention's per-head products, tensor/attention.cpp).
//   C (M x N, row stride ldc) = op(A) (M x K) @ B (K x N, row stride ldb)  [+ C if accumulate]
// op(A)[r][k] is A[r * lda + k], or A[k * lda + r] when a_transposed. Summed in the order k = 0 ..
// K-1 as thin_gemm. Call only where thin_gemm_isa() is non-empty.
void thin_gemm_serial(const float* A, int64_t lda, bool a_transposed, const float* B, int64_t ldb, float* C,
                      int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate);

// The same product by thin_gemm_serial where `own_kernel`, else by OpenBLAS (cblas_sgemm): for
// callers that choose per product shape (attention's per-head products, Winograd's per-position
// GEMMs, tensor/winograd.cpp).
void serial_product(bool own_kernel, const float* A, int64_t lda, bool a_transposed, const float* B,
                    int64_t ldb, float* C, int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate);

// C (M x N) [+]= A^T @ B with A (K x M, row stride lda), B (K x N, row stride ldb) and a long K: a
// weight gradient dW = dY^T X summed over many rows; used for K >= 1,024 and small results
// (M N <= 128 x 128), where it was measured faster than OpenBLAS. K is cut into chunks of 1,024 rows (by the
// shape alone), one partial product each, added in chunk order: the same bits for every thread count.
bool thin_gemm_tn_applies(int64_t M, int64_t N, int64_t K);
void thin_gemm_tn(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t M,
                  int64_t N, int64_t K, bool accumulate);

}  // namespace ld
