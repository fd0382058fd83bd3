// tests/autograd/test_attention.cpp: the fused multi-head attention (tensor/attention.h,
// ag::multi_head_attention) against the composed ops it replaces (head split, scaled_dot_product_attention,
// head merge), forward and all three gradients; finite differences; the fast kernels against their plain
// reference; bit-for-bit determinism across runs and thread counts; one-line errors for bad shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "tensor/attention.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/reference.h"
#include "tensor/thin_gemm.h"

using namespace ld;

namespace {

struct Case {
  int64_t B, Lq, Lk, heads, d;
  bool masked;
};

// max |a - b| / (max |b| + 1e-3): the error relative to the tensor's scale
double rel_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector(), y = b.to_vector();
  double worst = 0, scale = 1e-3;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::abs(double(x[i]) - y[i]));
    scale = std::max(scale, std::abs(double(y[i])));
  }
  return worst / scale;
}

// Key mask of B rows: row b keeps its first Lk - b keys (at least one), the rest padded.
Tensor make_keep(int64_t B, int64_t Lk) {
  Tensor keep = Tensor::zeros({B, Lk});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < std::max<int64_t>(1, Lk - 3 * b); ++j) keep.f32()[b * Lk + j] = 1.0f;
  return keep;
}

// The composed path nn::MultiHeadAttention used before: split heads, attention on (B, h, L, d), merge.
ag::Var composed(const ag::Var& q, const ag::Var& k, const ag::Var& v, int64_t heads, const Tensor& keep) {
  auto split = [heads](const ag::Var& t) {
    return ag::permute(ag::reshape(t, {t.size(0), t.size(1), heads, t.size(2) / heads}), {0, 2, 1, 3});
  };
  ag::Var o = ag::scaled_dot_product_attention(split(q), split(k), split(v), keep);
  return ag::reshape(ag::permute(o, {0, 2, 1, 3}), {q.size(0), q.size(1), q.size(2)});
}

struct Run {
  Tensor out, dq, dk, dv;
};

template <class F>
Run run_with_grads(F f, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout) {
  ag::Var vq(q.clone(), true), vk(k.clone(), true), vv(v.clone(), true);
  ag::Var o = f(vq, vk, vv);
  Tensor out = o.value().clone();
  o.backward(dout);
  return {out, vq.grad(), vk.grad(), vv.grad()};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

const Case kCases[] = {
    {1, 49, 49, 1, 8, false},    {3, 49, 49, 2, 16, false}, {3, 196, 196, 4, 8, false},
    {1, 196, 196, 2, 16, false}, {3, 49, 16, 4, 8, true},   {1, 7, 5, 2, 16, true},
    {3, 196, 16, 2, 8, true},    {3, 65, 130, 1, 16, true},
};

}  // namespace

TEST_CASE("fused multi-head attention equals the composed ops: output and the gradients of q, k, v") {
  Generator gen(11);
  for (const Case& c : kCases) {
    const int64_t W = c.heads * c.d;
    Tensor q = rand_normal({c.B, c.Lq, W}, gen), k = rand_normal({c.B, c.Lk, W}, gen),
           v = rand_normal({c.B, c.Lk, W}, gen), dout = rand_normal({c.B, c.Lq, W}, gen);
    Tensor keep = c.masked ? make_keep(c.B, c.Lk) : Tensor();
    const Run fused = run_with_grads(
        [&](auto& a, auto& b, auto& e) { return ag::multi_head_attention(a, b, e, c.heads, keep); }, q, k, v,
        dout);
    const Run ref = run_with_grads(
        [&](auto& a, auto& b, auto& e) { return composed(a, b, e, c.heads, keep); }, q, k, v, dout);
    INFO("B ", c.B, " Lq ", c.Lq, " Lk ", c.Lk, " heads ", c.heads, " d ", c.d, " masked ", c.masked);
    CHECK(rel_diff(fused.out, ref.out) < 2e-6);
    CHECK(rel_diff(fused.dq, ref.dq) < 1e-5);
    CHECK(rel_diff(fused.dk, ref.dk) < 1e-5);
    CHECK(rel_diff(fused.dv, ref.dv) < 1e-5);
    if (c.masked) {  // a padded key gets no gradient at all (the composed ops give ~1e-38 there)
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t j = 0; j < c.Lk; ++j)
          if (keep.at({b, j}) == 0.0f)
            for (int64_t t = 0; t < W; ++t) {
              CHECK(fused.dk.at({b, j, t}) == 0.0f);
              CHECK(fused.dv.at({b, j, t}) == 0.0f);
            }
    }
  }
}

TEST_CASE("fused attention passes gradcheck: self-attention and masked cross-attention, 1 and 2 heads") {
  Tensor keep = Tensor::from_vector({1, 1, 1, 0, 0, 1, 0, 0, 0, 0}, {2, 5});
  Generator gen(12);
  for (int64_t heads : {1, 2}) {
    auto self = [heads](const std::vector<ag::Var>& x) {
      return ag::multi_head_attention(x[0], x[0], x[1], heads);
    };
    auto r = ag::gradcheck(self, {rand_normal({2, 4, 4}, gen), rand_normal({2, 4, 4}, gen)});
    CHECK_MESSAGE(r.ok, r.message);
    auto cross = [heads, keep](const std::vector<ag::Var>& x) {
      return ag::multi_head_attention(x[0], x[1], x[2], heads, keep);
    };
    r = ag::gradcheck(
        cross, {rand_normal({2, 3, 4}, gen), rand_normal({2, 5, 4}, gen), rand_normal({2, 5, 4}, gen)});
    CHECK_MESSAGE(r.ok, r.message);
    CHECK(r.checked == 2 * 3 * 4 + 2 * 2 * 5 * 4);
  }
}

TEST_CASE(
    "fast attention kernels (loradiff's and OpenBLAS's products) agree with the reference loops, and LORADIFF_KERNELS=reference routes there") {
  Generator gen(13);
  for (const Case& c : {kCases[2], kCases[4], kCases[5], kCases[7]}) {
    const int64_t W = c.heads * c.d;
    Tensor q = rand_normal({c.B, c.Lq, W}, gen), k = rand_normal({c.B, c.Lk, W}, gen),
           v = rand_normal({c.B, c.Lk, W}, gen), dout = rand_normal({c.B, c.Lq, W}, gen);
    Tensor keep = c.masked ? make_keep(c.B, c.Lk) : Tensor();
    INFO("B ", c.B, " Lq ", c.Lq, " Lk ", c.Lk, " heads ", c.heads, " d ", c.d);
    const AttentionResult fast = attention_forward(q, k, v, c.heads, keep);
    const AttentionResult ref = attention_reference_forward(q, k, v, c.heads, keep);
    CHECK(rel_diff(fast.out, ref.out) < 2e-6);
    CHECK(rel_diff(fast.lse, ref.lse) < 2e-6);
    const AttentionGrads gf = attention_backward(q, k, v, fast, dout, c.heads, keep);
    const AttentionGrads gr = attention_reference_backward(q, k, v, ref, dout, c.heads, keep);
    CHECK(rel_diff(gf.dq, gr.dq) < 1e-5);
    CHECK(rel_diff(gf.dk, gr.dk) < 1e-5);
    CHECK(rel_diff(gf.dv, gr.dv) < 1e-5);
    // the per-head products in OpenBLAS instead of loradiff's kernel (CPUs without AVX-512)
    set_thin_gemm_choice("off");
    const AttentionResult blas = attention_forward(q, k, v, c.heads, keep);
    const AttentionGrads gb = attention_backward(q, k, v, blas, dout, c.heads, keep);
    set_thin_gemm_choice("auto");
    CHECK(rel_diff(blas.out, ref.out) < 2e-6);
    CHECK(rel_diff(blas.lse, ref.lse) < 2e-6);
    CHECK(rel_diff(gb.dq, gr.dq) < 1e-5);
    CHECK(rel_diff(gb.dk, gr.dk) < 1e-5);
    CHECK(rel_diff(gb.dv, gr.dv) < 1e-5);
    const Kernels old = kernels();
    set_kernels(Kernels::Reference);
    const AttentionResult routed = attention_forward(q, k, v, c.heads, keep);
    const AttentionGrads groute = attention_backward(q, k, v, routed, dout, c.heads, keep);
    set_kernels(old);
    CHECK(bit_equal(routed.out, ref.out));
    CHECK(bit_equal(groute.dk, gr.dk));
  }
}

TEST_CASE("fused attention is deterministic: two runs, and 1 or 3 threads, give the same bits") {
  Generator gen(14);
  const Case c{3, 196, 196, 4, 8, true};
  Tensor q = rand_normal({c.B, c.Lq, 32}, gen), k = rand_normal({c.B, c.Lk, 32}, gen),
         v = rand_normal({c.B, c.Lk, 32}, gen), dout = rand_normal({c.B, c.Lq, 32}, gen),
         keep = make_keep(3, 196);
  auto run = [&] {
    AttentionResult r = attention_forward(q, k, v, c.heads, keep);
    AttentionGrads g = attention_backward(q, k, v, r, dout, c.heads, keep);
    return Run{r.out, g.dq, g.dk, g.dv};
  };
  const int saved = num_threads();
  set_num_threads(3);
  const Run a = run(), b = run();
  set_num_threads(1);
  const Run one = run();
  set_num_threads(saved);
  for (const Run* r : {&b, &one}) {
    CHECK(bit_equal(a.out, r->out));
    CHECK(bit_equal(a.dq, r->dq));
    CHECK(bit_equal(a.dk, r->dk));
    CHECK(bit_equal(a.dv, r->dv));
  }
}

TEST_CASE("fused attention: bad shapes give one-line errors that name what was expected") {
  Tensor q = Tensor::zeros({2, 3, 8}), k = Tensor::zeros({2, 5, 8}), v = Tensor::zeros({2, 5, 8});
  const struct {
    std::function<void()> f;
    const char* expect;
  } bad[] = {
      {[&] {
         attention_forward(q.view({2, 3, 2, 4}), k, v, 2);
       },
       "must all be (B, L, heads*d)"},
      {[&] {
         attention_forward(q, k, Tensor::zeros({2, 4, 8}), 2);
       },
       "do not agree"},
      {[&] {
         attention_forward(q, Tensor::zeros({1, 5, 8}), Tensor::zeros({1, 5, 8}), 2);
       },
       "do not agree"},
      {[&] { attention_forward(q, k, v, 3); }, "width 8 does not split into 3 heads"},
      {[&] { attention_forward(q, k, v, 0); }, "does not split into 0 heads"},
      {[&] {
         attention_forward(q, Tensor::zeros({2, 0, 8}), Tensor::zeros({2, 0, 8}), 2);
       },
       "has no keys"},
      {[&] {
         attention_forward(q, k, v, 2, Tensor::ones({2, 4}));
       },
       "key mask (2,4) must be (2, 5)"},
      {[&] {
         attention_forward(q, k, v, 2, Tensor::from_ints({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 5}));
       },
       "key mask"},
      {[&] {
         AttentionResult r = attention_forward(q, k, v, 2);
         attention_backward(q, k, v, r, Tensor::zeros({2, 3, 4}), 2);
       },
       "attention backward"},
      {[&] { ag::multi_head_attention(ag::Var(q), ag::Var(k), ag::Var(v), 16); }, "does not split"},
  };
  for (const auto& b : bad) {
    const std::string msg = error_of(b.f);
    INFO(msg);
    CHECK(msg.find(b.expect) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
}

TEST_CASE("a query whose keys are all padded attends to nothing: zero output and zero gradients") {
  Generator gen(15);
  Tensor q = rand_normal({2, 3, 4}, gen), k = rand_normal({2, 5, 4}, gen), v = rand_normal({2, 5, 4}, gen);
  Tensor keep = Tensor::from_vector({1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, {2, 5});
  const Run r =
      run_with_grads([&](auto& a, auto& b, auto& e) { return ag::multi_head_attention(a, b, e, 2, keep); }, q,
                     k, v, rand_normal({2, 3, 4}, gen));
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t t = 0; t < 4; ++t) {
      CHECK(r.out.at({1, i, t}) == 0.0f);
      CHECK(r.dq.at({1, i, t}) == 0.0f);
      CHECK(std::isfinite(r.dq.at({0, i, t})));
    }
}
