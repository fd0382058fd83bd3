// tensor/matmul.cpp: matrix products through BLAS (cblas_sgemm) on strided views, large GEMMs split
// over OpenMP threads, batched and broadcast products; tall, thin ones through thin_gemm.
#include "tensor/matmul.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "tensor/elementwise.h"
#include "tensor/parallel.h"
#include "tensor/reference.h"
#include "tensor/thin_gemm.h"

namespace ld {

namespace {

// How BLAS should read a 2-D strided view (rows, cols): row-major with leading
// dimension ld, possibly transposed. Returns false when neither stride is 1.
struct BlasView {
  const float* ptr = nullptr;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  int64_t ld = 1;
};

bool blas_view(const float* ptr, int64_t rows, int64_t cols, int64_t srow, int64_t scol, BlasView* v) {
  if (scol == 1 && (srow >= std::max<int64_t>(cols, 1) || rows == 1)) {
    *v = {ptr, CblasNoTrans, std::max<int64_t>(rows == 1 ? cols : srow, 1)};
    return true;
  }
  if (srow == 1 && (scol >= std::max<int64_t>(rows, 1) || cols == 1)) {
    *v = {ptr, CblasTrans, std::max<int64_t>(cols == 1 ? rows : scol, 1)};
    return true;
  }
  return false;
}

// One cblas_sgemm, split across OpenMP threads when it is large: OpenBLAS itself
// runs single-threaded (parallel.cpp), so there is one thread pool, not two
// competing for the cores. The output is cut into blocks along its longer side:
//   rows:    C[r0:r1, :] = op(A)[r0:r1, :] @ op(B)
//   columns: C[:, c0:c1] = op(A) @ op(B)[:, c0:c1]
// Each block is an ordinary GEMM on offset pointers with the same leading dimensions.
void sgemm_threaded(const BlasView& a, const BlasView& b, float* c, int64_t M, int64_t N, int64_t K,
                    int64_t ldc, float alpha, float beta) {
  auto call = [&](const float* pa, const float* pb, float* pc, int64_t m, int64_t n) {
    cblas_sgemm(CblasRowMajor, a.trans, b.trans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(K), alpha, pa, static_cast<int>(a.ld), pb, static_cast<int>(b.ld), beta, pc,
                static_cast<int>(ldc));
  };
  // Tall, thin products (many rows, a small B) go to our own kernel (tensor/thin_gemm.h).
  if (a.trans == CblasNoTrans && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) &&
      thin_gemm_applies(M, N, K)) {
    thin_gemm(a.ptr, a.ld, b.ptr, b.ld, b.trans == CblasTrans, c, ldc, M, N, K, nullptr, beta == 1.0f);
    return;
  }
  // ... and so do products over a long K with small results (weight gradients dY^T X).
  if (a.trans == CblasTrans && b.trans == CblasNoTrans && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) &&
      thin_gemm_tn_applies(M, N, K)) {
    thin_gemm_tn(a.ptr, a.ld, b.ptr, b.ld, c, ldc, M, N, K, beta == 1.0f);
    return;
  }
  const int threads = num_threads();
  if (threads == 1 || omp_in_parallel() || M * N * K < (int64_t{1} << 20)) {
    call(a.ptr, b.ptr, c, M, N);
    return;
  }
  const bool split_rows = M >= N;
  const int64_t len = split_rows ? M : N;
  const int blocks = static_cast<int>(std::min<int64_t>(threads, (len + 15) / 16));
#pragma omp parallel for schedule(static) num_threads(blocks)
  for (int i = 0; i < blocks; ++i) {
    // block boundaries on multiples of 16 keep BLAS kernels on full panels
    const int64_t lo = (len * i / blocks) / 16 * 16,
                  hi = i + 1 == blocks ? len : (len * (i + 1) / blocks) / 16 * 16;
    if (hi <= lo) continue;
    if (split_rows) {
      const float* pa = a.trans == CblasNoTrans ? a.ptr + lo * a.ld : a.ptr + lo;
      call(pa, b.ptr, c + lo * ldc, hi - lo, N);
    } else {
      const float* pb = b.trans == CblasNoTrans ? b.ptr + lo : b.ptr + lo * b.ld;
      call(a.ptr, pb, c + lo, M, hi - lo);
    }
  }
}

// A 2-D t as a BLAS operand; a copy (kept alive in `t`) where the view has no unit stride.
void blas_view_or_copy(Tensor& t, BlasView* v) {
  const int64_t rows = t.size(0), cols = t.size(1);
  if (!blas_view(t.f32(), rows, cols, t.strides()[0], t.strides()[1], v)) {
    t = t.contiguous();
    blas_view(t.f32(), rows, cols, cols, 1, v);
  }
}

// a and b as BLAS operands (blas_view_or_copy each).
void blas_views(Tensor& a, Tensor& b, BlasView* va, BlasView* vb) {
  blas_view_or_copy(a, va);
  blas_view_or_copy(b, vb);
}

// B (K x N) as thin_gemm reads it best, once: a transposed view is copied into K x N rows (thin_gemm
// would copy it on every call of a loop over row blocks); the copy, if any, is kept in `copy`.
struct RowsOfB {
  Tensor copy;
  const float* p;
  int64_t ld;
};
RowsOfB rows_of_b(const Tensor& b, const BlasView& v) {
  if (v.trans != CblasTrans) return {Tensor(), v.ptr, v.ld};
  Tensor k = b.contiguous();
  return {k, k.f32(), b.size(1)};
}

// Where thin_gemm takes a product a (M, K) @ b (K, N): it applies to the shape and A can be read row
// by row. The operands as BLAS views then, with any copy kept in *a / *b.
bool thin_operands(const Tensor& a_in, const Tensor& b_in, Tensor* a, Tensor* b, BlasView* va, BlasView* vb) {
  if (use_reference_kernels() || !thin_gemm_applies(a_in.size(0), b_in.size(1), a_in.size(1))) return false;
  *a = a_in;
  *b = b_in;
  blas_views(*a, *b, va, vb);
  return va->trans == CblasNoTrans;
}

void check_matmul_inputs(const Tensor& a, const Tensor& b) {
  check_dtype("matmul", a, DType::F32, "a");
  check_dtype("matmul", b, DType::F32, "b");
  check_same_device("matmul", a, b);
  if (a.device() != Device::CPU) fail("matmul: no CUDA kernel in this build");
  if (a.dim() < 2 || b.dim() < 2)
    fail("matmul: ", shape_str(a.shape()), " @ ", shape_str(b.shape()),
         ": both operands need at least 2 axes");
  if (a.size(-1) != b.size(-2))
    fail("matmul: ", shape_str(a.shape()), " @ ", shape_str(b.shape()), ": inner dimensions ", a.size(-1),
         " and ", b.size(-2), " differ");
}

}  // namespace

void gemm(const Tensor& a_in, const Tensor& b_in, Tensor& c, float alpha, float beta) {
  if (use_reference_kernels()) return gemm_reference(a_in, b_in, c, alpha, beta);
  Tensor a = a_in, b = b_in;
  BlasView va, vb;
  blas_views(a, b, &va, &vb);
  sgemm_threaded(va, vb, c.f32(), a.size(0), b.size(1), a.size(1), c.strides()[0], alpha, beta);
}

void gemm_bias(const Tensor& a_in, const Tensor& b_in, const Tensor& bias, Tensor& c,
               const Tensor& residual) {
  const int64_t M = a_in.size(0), K = a_in.size(1), N = b_in.size(1);
  if (bias.defined() && bias.shape() != Shape{N})
    fail("gemm_bias: bias ", shape_str(bias.shape()), " must be (", N, ")");
  if (residual.defined() && residual.shape() != Shape{M, N})
    fail("gemm_bias: residual ", shape_str(residual.shape()), " must be (", M, ", ", N, ")");
  Tensor a, b;
  BlasView va, vb;
  if (thin_operands(a_in, b_in, &a, &b, &va, &vb)) {
    const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
    const Tensor rc = residual.defined() ? residual.contiguous() : Tensor();
    thin_gemm(va.ptr, va.ld, vb.ptr, vb.ld, vb.trans == CblasTrans, c.f32(), c.strides()[0], M, N, K,
              bias.defined() ? bc.f32() : nullptr, false, residual.defined() ? rc.f32() : nullptr, N);
    return;
  }
  if (bias.defined()) {
    c.copy_(bias.reshape({1, N}).expand({M, N}));  // reshape: a strided bias is copied
    gemm(a_in, b_in, c, 1.0f, 1.0f);
  } else {
    gemm(a_in, b_in, c);
  }
  if (residual.defined()) axpy_(c, 1.0f, residual);
}

Tensor gemm_bias_gelu(const Tensor& a_in, const Tensor& b_in, const Tensor& bias, const Tensor& pre) {
  const int64_t M = a_in.size(0), K = a_in.size(1), N = b_in.size(1);
  if (bias.defined() && bias.shape() != Shape{N})
    fail("gemm_bias_gelu: bias ", shape_str(bias.shape()), " must be (", N, ")");
  if (pre.defined() && (pre.shape() != Shape{M, N} || !pre.is_contiguous()))
    fail("gemm_bias_gelu: pre-activation ", shape_str(pre.shape()), " must be a contiguous (", M, ", ", N,
         ")");
  Tensor a, b;
  BlasView va, vb;
  if (thin_operands(a_in, b_in, &a, &b, &va, &vb)) {
    const RowsOfB rb = rows_of_b(b, vb);  // B as K x N rows, once
    const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
    const float* pbias = bias.defined() ? bc.f32() : nullptr;
    Tensor y = Tensor::empty({M, N});
    float *py = y.f32(), *ppre = pre.defined() ? pre.f32() : nullptr;
    // Blocks of kRows rows: u (at most kRows x 512 floats, 256 KB) stays in this core's L2 between
    // the product and GELU.
    constexpr int64_t kRows = 128;
    const int64_t blocks = (M + kRows - 1) / kRows;
#pragma omp parallel if (num_threads() > 1 && !omp_in_parallel() && M * N * K >= (int64_t{1} << 20)) \
    num_threads(num_threads())
    {
      std::vector<float> scratch(ppre ? 0 : static_cast<size_t>(kRows * N));
#pragma omp for schedule(dynamic)
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t i0 = blk * kRows, rows = std::min(kRows, M - i0);
        float* u = ppre ? ppre + i0 * N : scratch.data();
        // one thread (inside this parallel region), rows [i0, i0 + rows)
        thin_gemm(va.ptr + i0 * va.ld, va.ld, rb.p, rb.ld, false, u, N, rows, N, K, pbias, false);
        unary_span(Unary::Gelu, py + i0 * N, u, rows * N);
      }
    }
    return y;
  }
  Tensor u = pre.defined() ? pre : Tensor::empty({M, N});
  gemm_bias(a_in, b_in, bias, u);
  return unary(Unary::Gelu, u);
}

Tensor gemm_mlp_gelu(const Tensor& a_in, const Tensor& b1_in, const Tensor& bias1, const Tensor& b2_in,
                     const Tensor& bias2, const Tensor& residual) {
  const int64_t M = a_in.size(0), K = a_in.size(1), H = b1_in.size(1), N = b2_in.size(1);
  if (b2_in.size(0) != H)
    fail("gemm_mlp_gelu: second layer ", shape_str(b2_in.shape()), " must have ", H,
         " rows (the hidden width)");
  if (bias1.defined() && bias1.shape() != Shape{H})
    fail("gemm_mlp_gelu: bias1 ", shape_str(bias1.shape()), " must be (", H, ")");
  if (bias2.defined() && bias2.shape() != Shape{N})
    fail("gemm_mlp_gelu: bias2 ", shape_str(bias2.shape()), " must be (", N, ")");
  if (residual.defined() && residual.shape() != Shape{M, N})
    fail("gemm_mlp_gelu: residual ", shape_str(residual.shape()), " must be (", M, ", ", N, ")");
  Tensor a, b1, b2;
  BlasView va, v1, v2;
  // The hidden rows are A of the second product: thin_gemm must take it as well (it reads A by rows).
  if (!thin_operands(a_in, b1_in, &a, &b1, &va, &v1) || !thin_gemm_applies(M, N, H)) {
    Tensor y = Tensor::empty({M, N});
    gemm_bias(gemm_bias_gelu(a_in, b1_in, bias1), b2_in, bias2, y, residual);
    return y;
  }
  b2 = b2_in;
  blas_view_or_copy(b2, &v2);
  const RowsOfB r1 = rows_of_b(b1, v1), r2 = rows_of_b(b2, v2);  // B1, B2 as K x H and H x N rows, once
  const Tensor c1 = bias1.defined() ? bias1.contiguous() : Tensor();
  const Tensor c2 = bias2.defined() ? bias2.contiguous() : Tensor();
  const Tensor rc = residual.defined() ? residual.contiguous() : Tensor();
  const float *pbias1 = bias1.defined() ? c1.f32() : nullptr, *pbias2 = bias2.defined() ? c2.f32() : nullptr;
  const float* pr = residual.defined() ? rc.f32() : nullptr;
  Tensor y = Tensor::empty({M, N});
  float* py = y.f32();
  // Blocks of kRows rows: the hidden block (at most kRows x 512 floats, 256 KB) stays in this core's
  // L2 from the first product through GELU to the second.
  constexpr int64_t kRows = 128;
  const int64_t blocks = (M + kRows - 1) / kRows;
#pragma omp parallel if (num_threads() > 1 && !omp_in_parallel() && M * H * (K + N) >= (int64_t{1} << 20)) \
    num_threads(num_threads())
  {
    std::vector<float> hidden(static_cast<size_t>(kRows * H));
#pragma omp for schedule(dynamic)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t i0 = blk * kRows, rows = std::min(kRows, M - i0);
      float* u = hidden.data();
      // one thread (inside this parallel region), rows [i0, i0 + rows): u = a b1 + bias1, GELU'd in place,
      // then y = u b2 + bias2 + residual
      thin_gemm(va.ptr + i0 * va.ld, va.ld, r1.p, r1.ld, false, u, H, rows, H, K, pbias1, false);
      unary_span(Unary::Gelu, u, u, rows * H);
      thin_gemm(u, H, r2.p, r2.ld, false, py + i0 * N, N, rows, N, H, pbias2, false,
                pr ? pr + i0 * N : nullptr, N);
    }
  }
  return y;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_matmul_inputs(a, b);
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Shape abatch(a.shape().begin(), a.shape().end() - 2), bbatch(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(abatch, bbatch, "matmul (batch axes)");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor c = Tensor::empty(out_shape);
  if (M == 0 || N == 0) return c;
  if (K == 0) {
    c.zero_();
    return c;
  }
  const int64_t nbatch = shape_numel(batch);
  if (use_reference_kernels()) {  // one plain product per batch entry (tensor/reference.h)
    Shape ae = batch, be = batch;
    ae.insert(ae.end(), {M, K});
    be.insert(be.end(), {K, N});
    const Tensor a3 = a.expand(ae).reshape({nbatch, M, K}), b3 = b.expand(be).reshape({nbatch, K, N});
    Tensor c3 = c.view({nbatch, M, N});
    for (int64_t i = 0; i < nbatch; ++i) {
      Tensor ci = c3.select(0, i);
      gemm_reference(a3.select(0, i), b3.select(0, i), ci, 1.0f, 0.0f);
    }
    return c;
  }
  Strides as = broadcast_strides(abatch, Strides(a.strides().begin(), a.strides().end() - 2), batch);
  Strides bs = broadcast_strides(bbatch, Strides(b.strides().begin(), b.strides().end() - 2), batch);
  const int64_t as_r = a.strides()[a.dim() - 2], as_c = a.strides()[a.dim() - 1];
  const int64_t bs_r = b.strides()[b.dim() - 2], bs_c = b.strides()[b.dim() - 1];

  // Many products (attention heads) are spread over OpenMP threads, one GEMM each;
  // a single product (or a batch of one) is split inside sgemm_threaded.
  const bool spread = nbatch >= num_threads();
  Tensor ac = a, bc = b;
  BlasView probe;
  if (!blas_view(a.f32(), M, K, as_r, as_c, &probe)) ac = a.contiguous();
  if (!blas_view(b.f32(), K, N, bs_r, bs_c, &probe)) bc = b.contiguous();
  if (ac.storage() != a.storage() || ac.offset() != a.offset() || ac.strides() != a.strides()) {
    as = broadcast_strides(abatch, Strides(ac.strides().begin(), ac.strides().end() - 2), batch);
  }
  if (bc.storage() != b.storage() || bc.offset() != b.offset() || bc.strides() != b.strides()) {
    bs = broadcast_strides(bbatch, Strides(bc.strides().begin(), bc.strides().end() - 2), batch);
  }
  const int64_t acr = ac.strides()[ac.dim() - 2], acc = ac.strides()[ac.dim() - 1];
  const int64_t bcr = bc.strides()[bc.dim() - 2], bcc = bc.strides()[bc.dim() - 1];
  const float* pa = ac.f32();
  const float* pb = bc.f32();
  float* pc = c.f32();
  const int nb_axes = static_cast<int>(batch.size());
#pragma omp parallel for schedule(static) if (spread && nbatch > 1) num_threads(num_threads())
  for (int64_t i = 0; i < nbatch; ++i) {
    int64_t oa = 0, ob = 0, rem = i;
    for (int d = nb_axes - 1; d >= 0; --d) {
      int64_t idx = rem % batch[d];
      rem /= batch[d];
      oa += idx * as[d];
      ob += idx * bs[d];
    }
    BlasView va, vb;
    blas_view(pa + oa, M, K, acr, acc, &va);
    blas_view(pb + ob, K, N, bcr, bcc, &vb);
    sgemm_threaded(va, vb, pc + i * M * N, M, N, K, N, 1.0f, 0.0f);
  }
  return c;
}

}  // namespace ld
