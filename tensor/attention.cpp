// tensor/attention.cpp: blocked multi-head attention forward and backward (see attention.h), and
// their plain reference versions.
//
// Work is cut into (batch, head, block of kRows query rows): each block's scores live only in a
// per-thread tile of kRows x Lk floats, the matrix products are cblas_sgemm calls on strided views
// of the (B, L, h*d) inputs (leading dimension h*d), and the row softmax is a SIMD loop. OpenBLAS
// runs single-threaded (tensor/parallel.h), so calling it from inside the parallel loop is what
// spreads the work over the cores.
#include "tensor/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/parallel.h"
#include "tensor/reference.h"
#include "tensor/simd_dispatch.h"
#include "tensor/vec_math.h"

namespace ld {

namespace {

// Query rows per block: a 64 x Lk tile (50 KB at Lk = 196) stays in L2 beside the K and V panels,
// and 64 rows keep the sgemm calls on full register panels.
constexpr int64_t kRows = 64;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Dims {
  int64_t B, Lq, Lk, H, d, W;  // W = H * d, the row width of q, k, v and o
};

Dims check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const Tensor& key_keep) {
  check_defined("attention", q, "q");
  check_defined("attention", k, "k");
  check_defined("attention", v, "v");
  check_dtype("attention", q, DType::F32, "q");
  check_dtype("attention", k, DType::F32, "k");
  check_dtype("attention", v, DType::F32, "v");
  if (q.device() != Device::CPU || k.device() != Device::CPU || v.device() != Device::CPU)
    fail("attention: no CUDA kernel in this build");
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3)
    fail("attention: q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()),
         " must all be (B, L, heads*d)");
  if (k.shape() != v.shape() || q.size(0) != k.size(0) || q.size(2) != k.size(2))
    fail("attention: q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()),
         " do not agree: expected k and v of one shape, and the batch and width of q");
  if (heads <= 0 || q.size(2) % heads != 0 || q.size(2) == 0)
    fail("attention: width ", q.size(2), " does not split into ", heads, " heads");
  if (k.size(1) == 0) fail("attention: k ", shape_str(k.shape()), " has no keys; expected at least one");
  Dims n{q.size(0), q.size(1), k.size(1), heads, q.size(2) / heads, q.size(2)};
  if (key_keep.defined()) {
    check_dtype("attention", key_keep, DType::F32, "key mask");
    if (key_keep.shape() != Shape{n.B, n.Lk})
      fail("attention: key mask ", shape_str(key_keep.shape()), " must be (", n.B, ", ", n.Lk, ")");
  }
  return n;
}

void check_saved(const Dims& n, const Tensor& q, const AttentionResult& saved, const Tensor& dout) {
  check_defined("attention backward", saved.out, "saved output");
  check_defined("attention backward", saved.lse, "saved log-sum-exp");
  check_defined("attention backward", dout, "output gradient");
  if (saved.out.shape() != q.shape() || dout.shape() != q.shape() ||
      saved.lse.shape() != Shape{n.B, n.H, n.Lq})
    fail("attention backward: output ", shape_str(saved.out.shape()), ", its gradient ",
         shape_str(dout.shape()), " and log-sum-exp ", shape_str(saved.lse.shape()), " must be ",
         shape_str(q.shape()), ", ", shape_str(q.shape()), " and (", n.B, ", ", n.H, ", ", n.Lq, ")");
}

// 1.0f for a kept key, 0.0f for a padded one; empty without a mask.
std::vector<float> keep_flags(const Tensor& key_keep) {
  if (!key_keep.defined()) return {};
  Tensor kc = key_keep.contiguous();
  std::vector<float> f(static_cast<size_t>(kc.numel()));
  for (size_t i = 0; i < f.size(); ++i) f[i] = kc.f32()[i] > 0.5f ? 1.0f : 0.0f;
  return f;
}

// The large cases only: below this many multiply-adds threads cost more than they save.
bool worth_threads(const Dims& n) { return n.B * n.H * n.Lq * n.Lk * n.d >= 8 * kParallelGrain; }

// Dot product (or sum) of a row in 8 independent lanes: the compiler may not reorder a float
// reduction by itself (a one-lane loop waits on each add in turn), and fixed lanes keep the order,
// and so the bits, the same on every run and at every vector width.
inline float row_dot(const float* a, const float* b, int64_t n) {  // b == nullptr: sum of a
  float lane[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int t = 0; t < 8; ++t) lane[t] += a[j + t] * (b ? b[j + t] : 1.0f);
  float s = 0.0f;
  for (; j < n; ++j) s += a[j] * (b ? b[j] : 1.0f);
  return s + (((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7])));
}

// Rows of scores s (m x n, leading dimension n) -> unnormalised probabilities e^(s - max) in place,
// lse per row, and 1 / (sum of the row) in inv_sum: the caller scales the row of P V by it (d values
// instead of the n of P). One pass finds the max (exact in any order, so a SIMD reduction), one
// computes the exponentials, one sums them in 8 fixed lanes: the bits do not depend on the vector
// width, and the exponentials run 16 wide where the CPU has AVX-512 (simd_dispatch_compute).
inline void softmax_rows(float* S, int64_t m, int64_t n, const float* keep, float* lse, float* inv_sum) {
  for (int64_t r = 0; r < m; ++r) {
    float* s = S + r * n;
    if (keep)
      for (int64_t j = 0; j < n; ++j) s[j] = keep[j] != 0.0f ? s[j] : -kInf;
    float mx = -kInf;
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < n; ++j) mx = mx > s[j] ? mx : s[j];
    if (mx == -kInf) {  // every key padded: no attention at all
      for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
      lse[r] = -kInf;
      inv_sum[r] = 0.0f;
      continue;
    }
    // the exponentials alone (as wide as the vectors are), then their sum in 8 fixed lanes from L1
    for (int64_t j = 0; j < n; ++j) s[j] = exp_f32(s[j] - mx);  // a padded key's -inf gives exactly 0
    const float sum = row_dot(s, nullptr, n);
    lse[r] = mx + std::log(sum);
    inv_sum[r] = 1.0f / sum;
  }
}

// Row r of o (m rows of d values, leading dimension ld) *= inv_sum[r]: the softmax's normalisation.
inline void scale_rows(float* o, int64_t m, int64_t d, int64_t ld, const float* inv_sum) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < d; ++c) o[r * ld + c] *= inv_sum[r];
}

// Backward, first half: P = exp(S - lse) in place (S holds the recomputed scaled scores), and
// D_r = sum_c dO_rc O_rc over this head's columns.
inline void probs_and_delta(float* S, int64_t m, int64_t n, const float* keep, const float* lse,
                            const float* go, const float* o, int64_t d, int64_t ld, float* D) {
  for (int64_t r = 0; r < m; ++r) {
    float* s = S + r * n;
    const float l = lse[r];
    for (int64_t j = 0; j < n; ++j) s[j] = exp_f32(s[j] - l);
    if (keep)
      for (int64_t j = 0; j < n; ++j) s[j] *= keep[j];
    if (l == -kInf)
      for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
    D[r] = row_dot(go + r * ld, o + r * ld, d);
  }
}

// Backward, second half: dS = P (dP - D) in place in dP.
inline void scores_grad(const float* P, float* dP, int64_t m, int64_t n, const float* D) {
  for (int64_t r = 0; r < m; ++r) {
    const float* p = P + r * n;
    float* g = dP + r * n;
    const float dr = D[r];
    for (int64_t j = 0; j < n; ++j) g[j] = p[j] * (g[j] - dr);
  }
}

int I(int64_t x) { return static_cast<int>(x); }

}  // namespace

AttentionResult attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                                  const Tensor& key_keep) {
  const Dims n = check_inputs(q, k, v, heads, key_keep);
  if (use_reference_kernels()) return attention_reference_forward(q, k, v, heads, key_keep);
  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  const std::vector<float> keep = keep_flags(key_keep);
  AttentionResult r{Tensor::empty(q.shape()), Tensor::empty({n.B, n.H, n.Lq})};
  const float *pq = qc.f32(), *pk = kc.f32(), *pv = vc.f32();
  float *po = r.out.f32(), *pl = r.lse.f32();
  const int64_t blocks = (n.Lq + kRows - 1) / kRows, items = n.B * n.H * blocks, W = n.W, Lk = n.Lk;
  const float scale = 1.0f / std::sqrt(static_cast<float>(n.d));
#pragma omp parallel if (worth_threads(n)) num_threads(num_threads())
  {
    std::vector<float> tile(static_cast<size_t>(std::min(kRows, n.Lq) * Lk)), inv_sum(kRows);
    float* S = tile.data();
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t b = it / (n.H * blocks), c = (it / blocks) % n.H, i0 = (it % blocks) * kRows;
      const int64_t m = std::min(kRows, n.Lq - i0);
      const float* qb = pq + (b * n.Lq + i0) * W + c * n.d;
      const float* kb = pk + b * Lk * W + c * n.d;
      const float* vb = pv + b * Lk * W + c * n.d;
      const float* kp = keep.empty() ? nullptr : keep.data() + b * Lk;
      float* lse = pl + (b * n.H + c) * n.Lq + i0;
      // S = scale Q_blk K^T   (m x Lk)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, I(m), I(Lk), I(n.d), scale, qb, I(W), kb, I(W),
                  0.0f, S, I(Lk));
      simd_dispatch_compute([&] { softmax_rows(S, m, Lk, kp, lse, inv_sum.data()); });
      // O_blk = (e^(S - max) V) / sum, written straight into this head's columns of o
      float* ob = po + (b * n.Lq + i0) * W + c * n.d;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I(m), I(n.d), I(Lk), 1.0f, S, I(Lk), vb, I(W),
                  0.0f, ob, I(W));
      scale_rows(ob, m, n.d, W, inv_sum.data());
    }
  }
  return r;
}

AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const AttentionResult& saved, const Tensor& dout, int64_t heads,
                                  const Tensor& key_keep) {
  const Dims n = check_inputs(q, k, v, heads, key_keep);
  check_saved(n, q, saved, dout);
  if (use_reference_kernels()) return attention_reference_backward(q, k, v, saved, dout, heads, key_keep);
  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), oc = saved.out.contiguous(),
               lc = saved.lse.contiguous(), gc = dout.contiguous();
  const std::vector<float> keep = keep_flags(key_keep);
  // dK and dV sum over all query blocks of a (batch, head): they start at 0 and each block adds to them
  AttentionGrads g{Tensor::empty(q.shape()), Tensor::zeros(k.shape()), Tensor::zeros(v.shape())};
  const float *pq = qc.f32(), *pk = kc.f32(), *pv = vc.f32(), *po = oc.f32(), *pl = lc.f32(), *pg = gc.f32();
  float *dq = g.dq.f32(), *dk = g.dk.f32(), *dv = g.dv.f32();
  const int64_t W = n.W, Lk = n.Lk, d = n.d, items = n.B * n.H;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  // One (batch, head) per work item, its query blocks in order: dK and dV of a head are then summed by
  // one thread in one fixed order, so the result is the same for every thread count.
#pragma omp parallel if (worth_threads(n)) num_threads(num_threads())
  {
    const size_t tile = static_cast<size_t>(std::min(kRows, n.Lq) * Lk);
    std::vector<float> P(tile), dP(tile), D(static_cast<size_t>(kRows));
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t b = it / n.H, c = it % n.H;
      const float* kb = pk + b * Lk * W + c * d;
      const float* vb = pv + b * Lk * W + c * d;
      float* dkb = dk + b * Lk * W + c * d;
      float* dvb = dv + b * Lk * W + c * d;
      const float* kp = keep.empty() ? nullptr : keep.data() + b * Lk;
      for (int64_t i0 = 0; i0 < n.Lq; i0 += kRows) {
        const int64_t m = std::min(kRows, n.Lq - i0), row = (b * n.Lq + i0) * W + c * d;
        const float *qb = pq + row, *ob = po + row, *gb = pg + row;
        const float* lse = pl + (b * n.H + c) * n.Lq + i0;
        // P = exp(scale Q_blk K^T - lse), D = rowsum(dO * O)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, I(m), I(Lk), I(d), scale, qb, I(W), kb, I(W),
                    0.0f, P.data(), I(Lk));
        simd_dispatch_compute([&] { probs_and_delta(P.data(), m, Lk, kp, lse, gb, ob, d, W, D.data()); });
        // dV += P^T dO_blk
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, I(Lk), I(d), I(m), 1.0f, P.data(), I(Lk), gb,
                    I(W), 1.0f, dvb, I(W));
        // dP = dO_blk V^T, then dS = P (dP - D) in its place
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, I(m), I(Lk), I(d), 1.0f, gb, I(W), vb, I(W),
                    0.0f, dP.data(), I(Lk));
        simd_dispatch([&] { scores_grad(P.data(), dP.data(), m, Lk, D.data()); });
        // dQ_blk = scale dS K;  dK += scale dS^T Q_blk
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I(m), I(d), I(Lk), scale, dP.data(), I(Lk), kb,
                    I(W), 0.0f, dq + row, I(W));
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, I(Lk), I(d), I(m), scale, dP.data(), I(Lk), qb,
                    I(W), 1.0f, dkb, I(W));
      }
    }
  }
  return g;
}

// ---- reference versions: one (batch, head, query) at a time, in double, single-threaded ----

namespace {

// Element [b, i, col] of a contiguous (B, L, W) tensor.
struct Rows {
  Tensor t;  // keeps the data alive
  int64_t L, W;
  explicit Rows(const Tensor& x) : t(x.contiguous()), L(x.size(1)), W(x.size(2)) {}
  double operator()(int64_t b, int64_t i, int64_t col) const { return t.f32()[(b * L + i) * W + col]; }
};

// p_j = softmax_j(scale q_i . k_j) over kept keys for query i of head c; false when every key is padded.
bool reference_probs(const Rows& Q, const Rows& K, const std::vector<float>& keep, const Dims& n, int64_t b,
                     int64_t c, int64_t i, std::vector<double>& p, double* lse) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(n.d));
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n.Lk; ++j) {
    if (!keep.empty() && keep[static_cast<size_t>(b * n.Lk + j)] == 0.0f) {
      p[static_cast<size_t>(j)] = -std::numeric_limits<double>::infinity();
      continue;
    }
    double s = 0;
    for (int64_t t = 0; t < n.d; ++t) s += Q(b, i, c * n.d + t) * K(b, j, c * n.d + t);
    p[static_cast<size_t>(j)] = scale * s;
    mx = std::max(mx, scale * s);
  }
  if (mx == -std::numeric_limits<double>::infinity()) {
    std::fill(p.begin(), p.end(), 0.0);
    *lse = mx;
    return false;
  }
  double z = 0;
  for (double& x : p) z += (x = std::exp(x - mx));
  for (double& x : p) x /= z;
  *lse = mx + std::log(z);
  return true;
}

}  // namespace

AttentionResult attention_reference_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                                            const Tensor& key_keep) {
  const Dims n = check_inputs(q, k, v, heads, key_keep);
  const std::vector<float> keep = keep_flags(key_keep);
  const Rows Q(q), K(k), V(v);
  AttentionResult r{Tensor::empty(q.shape()), Tensor::empty({n.B, n.H, n.Lq})};
  std::vector<double> p(static_cast<size_t>(n.Lk));
  for (int64_t b = 0; b < n.B; ++b)
    for (int64_t c = 0; c < n.H; ++c)
      for (int64_t i = 0; i < n.Lq; ++i) {
        double lse;
        reference_probs(Q, K, keep, n, b, c, i, p, &lse);
        r.lse.f32()[(b * n.H + c) * n.Lq + i] = static_cast<float>(lse);
        for (int64_t t = 0; t < n.d; ++t) {  // o_i = sum_j p_j v_j
          double o = 0;
          for (int64_t j = 0; j < n.Lk; ++j) o += p[static_cast<size_t>(j)] * V(b, j, c * n.d + t);
          r.out.f32()[(b * n.Lq + i) * n.W + c * n.d + t] = static_cast<float>(o);
        }
      }
  return r;
}

AttentionGrads attention_reference_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                            const AttentionResult& saved, const Tensor& dout, int64_t heads,
                                            const Tensor& key_keep) {
  // P is recomputed from q and k (saved is only checked): this version leans on nothing the
  // fast forward produced, so a wrong lse or output there shows up as a difference here.
  const Dims n = check_inputs(q, k, v, heads, key_keep);
  check_saved(n, q, saved, dout);
  const std::vector<float> keep = keep_flags(key_keep);
  const double scale = 1.0 / std::sqrt(static_cast<double>(n.d));
  const Rows Q(q), K(k), V(v), G(dout);
  std::vector<double> dq(static_cast<size_t>(q.numel())), dk(static_cast<size_t>(k.numel())),
      dv(static_cast<size_t>(v.numel()));
  std::vector<double> p(static_cast<size_t>(n.Lk)), dp(static_cast<size_t>(n.Lk));
  for (int64_t b = 0; b < n.B; ++b)
    for (int64_t c = 0; c < n.H; ++c)
      for (int64_t i = 0; i < n.Lq; ++i) {
        double lse;
        if (!reference_probs(Q, K, keep, n, b, c, i, p, &lse)) continue;
        // dp_j = dO_i . v_j,  D = sum_j p_j dp_j,  ds_j = p_j (dp_j - D)
        double D = 0;
        for (int64_t j = 0; j < n.Lk; ++j) {
          double s = 0;
          for (int64_t t = 0; t < n.d; ++t) s += G(b, i, c * n.d + t) * V(b, j, c * n.d + t);
          dp[static_cast<size_t>(j)] = s;
          D += p[static_cast<size_t>(j)] * s;
        }
        for (int64_t j = 0; j < n.Lk; ++j) {
          const double pj = p[static_cast<size_t>(j)], ds = pj * (dp[static_cast<size_t>(j)] - D);
          for (int64_t t = 0; t < n.d; ++t) {
            const int64_t qi = (b * n.Lq + i) * n.W + c * n.d + t, kj = (b * n.Lk + j) * n.W + c * n.d + t;
            dq[static_cast<size_t>(qi)] += scale * ds * K(b, j, c * n.d + t);
            dk[static_cast<size_t>(kj)] += scale * ds * Q(b, i, c * n.d + t);
            dv[static_cast<size_t>(kj)] += pj * G(b, i, c * n.d + t);
          }
        }
      }
  auto to_tensor = [](const std::vector<double>& x, const Shape& s) {
    Tensor t = Tensor::empty(s);
    for (size_t i = 0; i < x.size(); ++i) t.f32()[i] = static_cast<float>(x[i]);
    return t;
  };
  return {to_tensor(dq, q.shape()), to_tensor(dk, k.shape()), to_tensor(dv, v.shape())};
}

}  // namespace ld
