// thin_gemm (tensor/thin_gemm.h) against the plain GEMM summed in double: both kernels (AVX-512
// and AVX2, where this CPU has them), every panel width and row remainder, B read plainly and
// transposed, a bias, accumulation, leading dimensions wider than the rows; thin_gemm_tn (A read
// transposed, a long K in chunks); thin_gemm_serial (A plain or transposed); the bits independent of the
// thread count; and the products that reach it through gemm / gemm_bias / matmul give what OpenBLAS gives up
// to rounding.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tensor/matmul.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/thin_gemm.h"
#include "tests/tensor_compare.h"

using namespace ld;

namespace {

std::vector<float> random_vector(int64_t n, uint64_t seed) {
  Generator g(seed);
  return rand_normal({n}, g, 0.0f, 1.0f).to_vector();
}

// The kernels this CPU can run, each selected by capping thin_gemm at it.
std::vector<std::string> kernels_here() {
  std::vector<std::string> k;
  set_thin_gemm_choice("avx2");
  if (std::string(thin_gemm_isa()) == "avx2") k.push_back("avx2");
  set_thin_gemm_choice("avx512");
  if (std::string(thin_gemm_isa()) == "avx512") k.push_back("avx512");
  set_thin_gemm_choice("auto");
  return k;
}

struct CapGuard {
  ~CapGuard() { set_thin_gemm_choice("auto"); }
};

// |thin - exact| <= tol * (sum_k |a_k b_k| + |bias| + |c0|) for every element: the bound of a float
// sum of K products.
void check_close(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& mag,
                 double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > tol * (mag[i] + 1e-30)) {
      FAIL_CHECK("element " << i << ": " << got[i] << " vs " << want[i]);
      return;
    }
  }
}

// C (M x N, ldc) against op(A) @ B [+ C0] summed in double, op(A)[i][k] = A[i * lda + k] or, when
// a_transposed, A[k * lda + i]; B (K x N, ldb).
void check_plain(const std::vector<float>& C, const std::vector<float>& C0, const std::vector<float>& A,
                 int64_t lda, bool a_transposed, const std::vector<float>& B, int64_t ldb, int64_t ldc, int64_t M,
                 int64_t N, int64_t K, bool accumulate, double tol) {
  std::vector<float> got;
  std::vector<double> want, mag;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = accumulate ? C0[i * ldc + j] : 0.0, m = std::fabs(s);
      for (int64_t k = 0; k < K; ++k) {
        const double p = double(a_transposed ? A[k * lda + i] : A[i * lda + k]) * B[k * ldb + j];
        s += p;
        m += std::fabs(p);
      }
      got.push_back(C[i * ldc + j]);
      want.push_back(s);
      mag.push_back(m);
    }
  check_close(got, want, mag, tol);
}

}  // namespace

TEST_CASE("thin_gemm: every kernel, panel width and row remainder against the plain sum") {
  const auto kernels = kernels_here();
  if (kernels.empty()) {
    MESSAGE("thin_gemm is not available on this CPU / build: nothing to test");
    return;
  }
  CapGuard guard;
  // N: one to four vectors of 16, a partial last vector, more than one panel of 64, the AVX2
  // kernel's panels of 16 and 8; M: multiples and non-multiples of every MR (6, 8, 12) and of the
  // 96-row block; K: 1 and odd.
  const int64_t Ns[] = {1, 5, 16, 17, 33, 48, 64, 65, 100, 130};
  const int64_t Ms[] = {1, 7, 13, 96, 97, 203};
  const int64_t Ks[] = {1, 3, 64, 67};
  for (const std::string& kern : kernels) {
    set_thin_gemm_choice(kern.c_str());
    for (int64_t N : Ns)
      for (int64_t M : Ms)
        for (int64_t K : Ks)
          for (int variant = 0; variant < 8; ++variant) {
            CAPTURE(kern);
            CAPTURE(M);
            CAPTURE(N);
            CAPTURE(K);
            CAPTURE(variant);
            // variants: B plain / transposed x no bias / bias / bias + accumulate / bias + residual
            const int mode = variant >> 1;
            const bool bt = variant & 1, with_bias = mode >= 1, accumulate = mode == 2, residual = mode == 3;
            const int64_t lda = K + 3, ldb = (bt ? K : N) + 2, ldc = N + 5, ldr = N + 1;  // wider than the rows
            const auto A = random_vector(M * lda, 1), B = random_vector((bt ? N : K) * ldb, 2),
                       bias = random_vector(N, 3), C0 = random_vector(M * ldc, 4), R = random_vector(M * ldr, 5);
            std::vector<float> C = C0;
            thin_gemm(A.data(), lda, B.data(), ldb, bt, C.data(), ldc, M, N, K, with_bias ? bias.data() : nullptr,
                      accumulate, residual ? R.data() : nullptr, ldr);
            std::vector<float> got;
            std::vector<double> want, mag;
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                double s = 0, m = 0;
                for (int64_t k = 0; k < K; ++k) {
                  const double p = double(A[i * lda + k]) * (bt ? B[j * ldb + k] : B[k * ldb + j]);
                  s += p;
                  m += std::fabs(p);
                }
                if (with_bias) s += bias[j], m += std::fabs(bias[j]);
                if (accumulate) s += C0[i * ldc + j], m += std::fabs(C0[i * ldc + j]);
                if (residual) s += R[i * ldr + j], m += std::fabs(R[i * ldr + j]);
                got.push_back(C[i * ldc + j]);
                want.push_back(s);
                mag.push_back(m);
              }
            check_close(got, want, mag, 1e-6 * double(K + 2));
            // the padding between rows of C is never written
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == C0[i * ldc + j]);
          }
  }
}

TEST_CASE("thin_gemm_tn: A read transposed over a long K, in chunks, against the plain sum") {
  const auto kernels = kernels_here();
  if (kernels.empty()) return;
  CapGuard guard;
  struct Case {
    int64_t M, N, K;
  };
  // K below, at and above the 1,024-row chunk and the 128-row sub-block; M, N with remainders.
  const Case cases[] = {{1, 1, 1}, {7, 17, 129}, {64, 64, 1024}, {13, 70, 1025}, {64, 33, 3000}, {100, 5, 2049}};
  for (const std::string& kern : kernels) {
    set_thin_gemm_choice(kern.c_str());
    for (const Case& c : cases)
      for (bool accumulate : {false, true}) {
        CAPTURE(kern);
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.K);
        CAPTURE(accumulate);
        const int64_t lda = c.M + 1, ldb = c.N + 3, ldc = c.N + 2;
        const auto A = random_vector(c.K * lda, 5), B = random_vector(c.K * ldb, 6), C0 = random_vector(c.M * ldc, 7);
        std::vector<float> C = C0;
        thin_gemm_tn(A.data(), lda, B.data(), ldb, C.data(), ldc, c.M, c.N, c.K, accumulate);
        check_plain(C, C0, A, lda, true, B, ldb, ldc, c.M, c.N, c.K, accumulate,
                    1e-6 * double(std::min<int64_t>(c.K, 1024) + 8));
      }
  }
}

TEST_CASE("thin_gemm_serial: A plain and read transposed, at attention's shapes, against the plain sum") {
  const auto kernels = kernels_here();
  if (kernels.empty()) return;
  CapGuard guard;
  struct Case {
    int64_t M, N, K;
  };
  // attention's per-head products (tensor/attention.cpp) at head width 16 and 32, 196 and 16 keys, query
  // blocks of 64 and 4; and remainders of every panel
  const Case cases[] = {{196, 64, 16}, {16, 64, 196}, {196, 16, 64}, {64, 196, 16}, {196, 4, 16},
                        {32, 49, 49},  {49, 32, 49},  {16, 4, 16},   {1, 1, 1},     {13, 70, 5}};
  for (const std::string& kern : kernels) {
    set_thin_gemm_choice(kern.c_str());
    for (const Case& c : cases)
      for (int variant = 0; variant < 4; ++variant) {
        const bool at = variant & 1, accumulate = variant & 2;
        CAPTURE(kern);
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.K);
        CAPTURE(at);
        CAPTURE(accumulate);
        const int64_t lda = (at ? c.M : c.K) + 2, ldb = c.N + 3, ldc = c.N + 1;
        const auto A = random_vector((at ? c.K : c.M) * lda, 8), B = random_vector(c.K * ldb, 9),
                   C0 = random_vector(c.M * ldc, 10);
        std::vector<float> C = C0;
        thin_gemm_serial(A.data(), lda, at, B.data(), ldb, C.data(), ldc, c.M, c.N, c.K, accumulate);
        check_plain(C, C0, A, lda, at, B, ldb, ldc, c.M, c.N, c.K, accumulate, 1e-6 * double(c.K + 2));
        for (int64_t i = 0; i < c.M; ++i)  // the padding between rows of C is never written
          for (int64_t j = c.N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == C0[i * ldc + j]);
      }
  }
}

TEST_CASE("thin_gemm and thin_gemm_tn: the same bits for every thread count") {
  const auto kernels = kernels_here();
  if (kernels.empty()) return;
  CapGuard guard;
  set_thin_gemm_choice(kernels.back().c_str());
  const int64_t M = 3000, N = 70, K = 80;
  const auto A = random_vector(M * K, 8), B = random_vector(K * N, 9), bias = random_vector(N, 10);
  const int before = num_threads();
  std::vector<std::vector<float>> fwd, tn;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    std::vector<float> C(static_cast<size_t>(M * N)), D(static_cast<size_t>(K * N));
    thin_gemm(A.data(), K, B.data(), N, false, C.data(), N, M, N, K, bias.data(), false);
    // D (K x N) = A^T (K x M) @ C (M x N): a sum over M = 3,000 rows, three chunks
    thin_gemm_tn(A.data(), K, C.data(), N, D.data(), N, K, N, M, false);
    fwd.push_back(C);
    tn.push_back(D);
  }
  set_num_threads(before);
  CHECK(fwd[0] == fwd[1]);
  CHECK(fwd[0] == fwd[2]);
  CHECK(tn[0] == tn[1]);
  CHECK(tn[0] == tn[2]);
}

TEST_CASE("gemm, gemm_bias and matmul reach thin_gemm at tall shapes and agree with OpenBLAS") {
  const auto kernels = kernels_here();
  if (kernels.empty()) return;
  CapGuard guard;
  set_thin_gemm_choice(kernels.back().c_str());
  Generator g(11);
  const int64_t M = 1500, K = 64, N = 96;
  const Tensor X = rand_normal({M, K}, g, 0, 1), W = rand_normal({N, K}, g, 0, 1), b = rand_normal({N}, g, 0, 1),
               dY = rand_normal({M, N}, g, 0, 1);
  REQUIRE(thin_gemm_applies(M, N, K));
  REQUIRE(thin_gemm_tn_applies(N, K, M));
  // the shapes of the model's dense layers go to thin_gemm, square and wide products stay on OpenBLAS
  CHECK(thin_gemm_applies(12544, 64, 64));
  CHECK(thin_gemm_applies(3136, 512, 128));
  CHECK_FALSE(thin_gemm_applies(1024, 1024, 1024));
  CHECK_FALSE(thin_gemm_applies(512, 512, 512));
  CHECK_FALSE(thin_gemm_applies(100, 64, 64));
  CHECK(thin_gemm_tn_applies(64, 256, 12544));
  CHECK_FALSE(thin_gemm_tn_applies(512, 128, 3136));
  auto products = [&] {
    Tensor Y = Tensor::empty({M, N}), Yb = Tensor::empty({M, N}), dX = Tensor::empty({M, K}),
           dW = Tensor::empty({N, K});
    gemm(X, W.transpose(0, 1), Y);           // X W^T: B transposed
    gemm_bias(X, W.transpose(0, 1), b, Yb);  // + b
    gemm(dY, W, dX);                         // dY W: B plain
    gemm(dY.transpose(0, 1), X, dW);         // dY^T X: A transposed, long K
    return std::vector<Tensor>{Y, Yb, dX, dW, matmul(X, W.transpose(0, 1))};
  };
  const std::vector<Tensor> thin = products();
  set_thin_gemm_choice("off");
  REQUIRE(std::string(thin_gemm_isa()).empty());
  const std::vector<Tensor> blas = products();
  for (size_t i = 0; i < thin.size(); ++i) {
    CAPTURE(i);
    const double scale = i == 3 ? std::sqrt(double(M)) : std::sqrt(double(K));
    CHECK(test::max_abs_diff(thin[i], blas[i]) <= 1e-5 * scale * 8);
  }
}
