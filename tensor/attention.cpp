// tensor/attention.cpp: blocked multi-head attention forward and backward (see attention.h), and
// their plain reference versions.
//
// Work is cut into (batch, head) items, each run by one thread over its blocks of at most 64 queries:
// a block's scores live only in a per-thread tile of 64 x Lk floats. The products read q, k, v, o
// where they lie (leading dimension h*d), and what must be transposed (v^T; Q_blk^T in the forward,
// k^T in the backward) is copied once into d x L rows, so that every product is a plain one,
// C = op(A) B. The forward works on S^T (keys x queries): then both its products are 64 queries wide
// rather than d = 16 ... 32 (an output as narrow as d leaves a register-blocked kernel waiting on
// loads), and the softmax runs along rows, a query per SIMD lane, with no remainder loop. With an
// AVX-512 CPU the products run in loradiff's kernel (thin_gemm_serial, tensor/thin_gemm.h), which
// reads its operands in place; otherwise in OpenBLAS, single-threaded (tensor/parallel.h) inside
// the parallel loop, which is what spreads the work over the cores. The 1 / sqrt(d) of the scores
// is applied in the softmax (forward) and in dS (backward). Measured (2 threads, the mnist-t2i
// shapes, 2026-11-30): the attention rows of a training step's profile 140 -> 120 ms, of DDIM
// sampling's 0.70-0.82x.
#include "tensor/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/parallel.h"
#include "tensor/reference.h"
#include "tensor/simd_dispatch.h"
#include "tensor/thin_gemm.h"
#include "tensor/transpose.h"
#include "tensor/vec_math.h"

namespace ld {

namespace {

// Queries per block: at most a 64 x Lk tile (50 KB at Lk = 196), which stays in L2 beside the
// k^T and v^T panels. The forward takes 64 at a time (its products and softmax run along the
// queries: whole 16-lane vectors); the backward, whose products run along the keys, shares them out
// evenly (block_rows: 196 = 4 blocks of 49, not 64 + 64 + 64 + 4).
constexpr int64_t kRows = 64;
int64_t block_rows(int64_t Lq) {
  const int64_t blocks = (Lq + kRows - 1) / kRows;
  return blocks > 0 ? (Lq + blocks - 1) / blocks : 1;
}
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

// Dot product of two rows in 8 independent lanes: the compiler may not reorder a float reduction by
// itself (a one-lane loop waits on each add in turn), and fixed lanes keep the order, and so the
// bits, the same on every run and at every vector width.
inline float row_dot(const float* a, const float* b, int64_t n) {
  float lane[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int t = 0; t < 8; ++t) lane[t] += a[j + t] * b[j + t];
  float s = 0.0f;
  for (; j < n; ++j) s += a[j] * b[j];
  return s + (((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7])));
}

// Columns of unscaled, transposed scores s^T (n keys x m queries, leading dimension ld: query i is
// column i) -> unnormalised probabilities e^(scale (s - max)) in place, lse per query (of the scaled
// scores), and 1 / (sum of the column) in inv_sum: the caller scales each query's output by it (d
// values instead of the n of P). A padded key (keep[j] == 0) gives 0. The queries go in groups of
// kLanes, one per SIMD lane (one AVX-512 vector, two AVX2 ones), each group down all n keys with its
// maxima and sums in registers (a loop over all m queries per key kept them in memory: a load and
// a store per key and vector); exponentials 16 wide where the CPU has AVX-512
// (simd_dispatch_compute). The sums add the keys in order j = 0, 1, ... in each lane: the bits do
// not depend on the vector width. ld >= m rounded up to kLanes: the columns past m are computed and
// never used (each lane is independent); they must hold finite numbers.
constexpr int64_t kLanes = 16;
inline void softmax_columns(float* St, int64_t n, int64_t m, int64_t ld, const float* keep, float scale,
                            float* lse, float* inv_sum) {
  for (int64_t i0 = 0; i0 < m; i0 += kLanes) {
    float mx[kLanes], sum[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) mx[l] = -kInf, sum[l] = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      if (keep && keep[j] == 0.0f) continue;
      const float* s = St + j * ld + i0;
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) mx[l] = mx[l] > s[l] ? mx[l] : s[l];
    }
    for (int64_t j = 0; j < n; ++j) {
      float* s = St + j * ld + i0;
      if (keep && keep[j] == 0.0f) {
        for (int64_t l = 0; l < kLanes; ++l) s[l] = 0.0f;
        continue;
      }
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) {
        s[l] = exp_f32(scale * (s[l] - mx[l]));
        sum[l] += s[l];
      }
    }
    for (int64_t l = 0; l < kLanes && i0 + l < m; ++l) {  // every key padded: sum 0, no attention (o = 0)
      lse[i0 + l] = sum[l] > 0.0f ? scale * mx[l] + std::log(sum[l]) : -kInf;
      inv_sum[i0 + l] = sum[l] > 0.0f ? 1.0f / sum[l] : 0.0f;
    }
  }
}

// Backward, first half: P = exp(scale S - lse) in place (S holds the recomputed unscaled scores),
// and D_r = sum_c dO_rc O_rc over this head's columns.
inline void probs_and_delta(float* S, int64_t m, int64_t n, const float* keep, float scale, const float* lse,
                            const float* go, const float* o, int64_t d, int64_t ld, float* D) {
  for (int64_t r = 0; r < m; ++r) {
    float* s = S + r * n;
    const float l = lse[r];
    for (int64_t j = 0; j < n; ++j) s[j] = exp_f32(scale * s[j] - l);
    if (keep)
      for (int64_t j = 0; j < n; ++j) s[j] *= keep[j];
    if (l == -kInf)
      for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
    D[r] = row_dot(go + r * ld, o + r * ld, d);
  }
}

// Backward, second half: dS = scale P (dP - D) in place in dP (the gradient of the unscaled scores,
// so dQ = dS K and dK = dS^T Q need no further scale).
inline void scores_grad(const float* P, float* dP, int64_t m, int64_t n, const float* D, float scale) {
  for (int64_t r = 0; r < m; ++r) {
    const float* p = P + r * n;
    float* g = dP + r * n;
    const float dr = D[r];
    for (int64_t j = 0; j < n; ++j) g[j] = scale * (p[j] * (g[j] - dr));
  }
}

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
  const int64_t items = n.B * n.H, W = n.W, Lk = n.Lk, d = n.d, cols = std::min(kRows, n.Lq);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const bool thin = thin_gemm_isa()[0] != '\0';
  // Per (batch, head): v^T once; per block of m <= 64 queries, in the transposed layout (a query per
  // column, so that every product has m = 64 columns, not d = 16):
  //   S^T (Lk x m) = K (Lk x d) Q_blk^T (d x m),  P^T = softmax over each column,
  //   O_blk^T (d x m) = V^T (d x Lk) P^T (Lk x m), written into this head's columns of o, / sum.
#pragma omp parallel if (worth_threads(n)) num_threads(num_threads())
  {
    // S^T's rows padded to whole groups of kLanes queries (zeros, finite, for softmax_columns)
    const int64_t ld = (cols + kLanes - 1) / kLanes * kLanes;
    std::vector<float> St(static_cast<size_t>(Lk * ld)), qt(static_cast<size_t>(d * cols)),
        ot(static_cast<size_t>(d * cols)), vt(static_cast<size_t>(d * Lk)), inv(static_cast<size_t>(cols));
    float* inv_sum = inv.data();
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t b = it / n.H, c = it % n.H;
      const float* kb = pk + b * Lk * W + c * d;
      const float* kp = keep.empty() ? nullptr : keep.data() + b * Lk;
      transpose_block(pv + b * Lk * W + c * d, W, Lk, d, vt.data(), Lk);  // v^T (d x Lk)
      for (int64_t i0 = 0; i0 < n.Lq; i0 += cols) {
        const int64_t m = std::min(cols, n.Lq - i0);
        float* lse = pl + (b * n.H + c) * n.Lq + i0;
        transpose_block(pq + (b * n.Lq + i0) * W + c * d, W, m, d, qt.data(), m);  // Q_blk^T (d x m)
        // S^T = K Q_blk^T (Lk x m), unscaled: the softmax applies 1 / sqrt(d)
        serial_product(thin, kb, W, false, qt.data(), m, St.data(), ld, Lk, m, d, false);
        simd_dispatch_compute([&] { softmax_columns(St.data(), Lk, m, ld, kp, scale, lse, inv_sum); });
        // O_blk^T = V^T e^(S^T - max) (d x m); o[i, c d + t] = O_blk^T[t, i] / sum_i
        serial_product(thin, vt.data(), Lk, false, St.data(), ld, ot.data(), m, d, m, Lk, false);
        float* ob = po + (b * n.Lq + i0) * W + c * d;
        transpose_block(ot.data(), m, d, m, ob, W, inv_sum);
      }
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
  const int64_t W = n.W, Lk = n.Lk, d = n.d, items = n.B * n.H, rows = block_rows(n.Lq);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const bool thin = thin_gemm_isa()[0] != '\0';
  // One (batch, head) per work item, its query blocks in order: dK and dV of a head are then summed by
  // one thread in one fixed order, so the result is the same for every thread count.
#pragma omp parallel if (worth_threads(n)) num_threads(num_threads())
  {
    const size_t tile = static_cast<size_t>(std::min(rows, n.Lq) * Lk);
    std::vector<float> P(tile), dP(tile), D(static_cast<size_t>(rows)), kt(static_cast<size_t>(d * Lk)),
        vt(static_cast<size_t>(d * Lk));
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t b = it / n.H, c = it % n.H;
      const float* kb = pk + b * Lk * W + c * d;
      float* dkb = dk + b * Lk * W + c * d;
      float* dvb = dv + b * Lk * W + c * d;
      const float* kp = keep.empty() ? nullptr : keep.data() + b * Lk;
      transpose_block(kb, W, Lk, d, kt.data(), Lk);                       // k^T (d x Lk)
      transpose_block(pv + b * Lk * W + c * d, W, Lk, d, vt.data(), Lk);  // v^T (d x Lk)
      for (int64_t i0 = 0; i0 < n.Lq; i0 += rows) {
        const int64_t m = std::min(rows, n.Lq - i0), row = (b * n.Lq + i0) * W + c * d;
        const float *qb = pq + row, *ob = po + row, *gb = pg + row;
        const float* lse = pl + (b * n.H + c) * n.Lq + i0;
        // P = exp(scale Q_blk k^T - lse), D = rowsum(dO * O)
        serial_product(thin, qb, W, false, kt.data(), Lk, P.data(), Lk, m, Lk, d, false);
        simd_dispatch_compute(
            [&] { probs_and_delta(P.data(), m, Lk, kp, scale, lse, gb, ob, d, W, D.data()); });
        // dV += P^T dO_blk
        serial_product(thin, P.data(), Lk, true, gb, W, dvb, W, Lk, d, m, true);
        // dP = dO_blk v^T, then dS = scale P (dP - D) in its place
        serial_product(thin, gb, W, false, vt.data(), Lk, dP.data(), Lk, m, Lk, d, false);
        simd_dispatch([&] { scores_grad(P.data(), dP.data(), m, Lk, D.data(), scale); });
        // dQ_blk = dS K;  dK += dS^T Q_blk
        serial_product(thin, dP.data(), Lk, false, kb, W, dq + row, W, m, d, Lk, false);
        serial_product(thin, dP.data(), Lk, true, qb, W, dkb, W, Lk, d, m, true);
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
