// The transformer MLP y = r + fc2(GELU(fc1(x))) (diffusion/feed_forward.h). While sampling it is one
// op (ag::feed_forward, tensor/matmul.h gemm_mlp_gelu) whose hidden rows never leave the cache; it
// must give the very bits of the two layers run one after the other (linear_gelu, then linear with
// the residual), on thin_gemm and on OpenBLAS, for any thread count, and go layer by layer when a
// backward will follow or a layer was replaced (LoRA, low-rank compression).
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "diffusion/feed_forward.h"
#include "nn/low_rank_linear.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/thin_gemm.h"

using namespace ld;
using namespace ld::diffusion;
using ld::ag::Var;

namespace {

// The two layers as separate calls: u = GELU(a b1 + bias1), y = u b2 + bias2 [+ r]
std::vector<float> two_calls(const Tensor& a, const Tensor& b1, const Tensor& bias1, const Tensor& b2,
                             const Tensor& bias2, const Tensor& r) {
  Tensor y = Tensor::empty({a.size(0), b2.size(1)});
  gemm_bias(gemm_bias_gelu(a, b1, bias1), b2, bias2, y, r);
  return y.to_vector();
}

}  // namespace

TEST_CASE("gemm_mlp_gelu has the bits of gemm_bias_gelu then gemm_bias, on every kernel and thread count") {
  Generator gen(1);
  const int saved = num_threads();
  for (const char* cap : {"avx2", "avx512", "off"}) {  // each kernel this CPU has, and OpenBLAS
    CAPTURE(cap);
    set_thin_gemm_choice(cap);
    // 5 and 700 rows: the two calls (too few rows for thin_gemm: M < 4 x 200); 1000: one op, blocks of
    // 128 rows and a rest of 104; hidden 200 and out 40: panels of 64 columns, a partial last vector
    for (int64_t rows : {5, 700, 1000})
      for (bool with_bias : {true, false})
        for (bool with_residual : {true, false}) {
          CAPTURE(rows);
          CAPTURE(with_bias);
          CAPTURE(with_residual);
          const Tensor a = rand_normal({rows, 48}, gen, 0, 1);
          const Tensor w1 = rand_normal({200, 48}, gen, 0, 0.3f), w2 = rand_normal({40, 200}, gen, 0, 0.1f);
          const Tensor b1 = with_bias ? rand_normal({200}, gen, 0, 1) : Tensor();
          const Tensor b2 = with_bias ? rand_normal({40}, gen, 0, 1) : Tensor();
          const Tensor r = with_residual ? rand_normal({rows, 40}, gen, 0, 1) : Tensor();
          const std::vector<float> expected = two_calls(a, w1.transpose(0, 1), b1, w2.transpose(0, 1), b2, r);
          for (int threads : {1, 2, 3}) {
            CAPTURE(threads);
            set_num_threads(threads);
            CHECK(gemm_mlp_gelu(a, w1.transpose(0, 1), b1, w2.transpose(0, 1), b2, r).to_vector() ==
                  expected);
          }
          set_num_threads(saved);
        }
  }
  set_thin_gemm_choice("auto");
}

TEST_CASE("gemm_mlp_gelu reads strided operands and plain (K x N) weights; wrong shapes are refused") {
  Generator gen(2);
  const Tensor wide = rand_normal({900, 40}, gen, 0, 1);
  const Tensor a = wide.narrow(1, 3, 32);  // rows 40 floats apart
  const Tensor b1 = rand_normal({32, 96}, gen, 0, 0.3f),
               b2 = rand_normal({96, 24}, gen, 0, 0.1f);              // as they lie
  const Tensor bias1 = rand_normal({96, 2}, gen, 0, 1).select(1, 1);  // every other float
  const Tensor bias2 = rand_normal({24}, gen, 0, 1);
  const Tensor r = rand_normal({24, 900}, gen, 0, 1).transpose(0, 1);  // a transposed residual
  for (const char* cap : {"avx512", "off"}) {
    CAPTURE(cap);
    set_thin_gemm_choice(cap);
    CHECK(gemm_mlp_gelu(a, b1, bias1, b2, bias2, r).to_vector() == two_calls(a, b1, bias1, b2, bias2, r));
    CHECK_THROWS_WITH_AS(gemm_mlp_gelu(a, b1, bias1, rand_normal({95, 24}, gen, 0, 1), bias2),
                         doctest::Contains("must have 96 rows"), Error);
    CHECK_THROWS_WITH_AS(gemm_mlp_gelu(a, b1, bias2, b2, bias2), doctest::Contains("bias1"), Error);
    CHECK_THROWS_WITH_AS(gemm_mlp_gelu(a, b1, bias1, b2, bias1), doctest::Contains("bias2"), Error);
    CHECK_THROWS_WITH_AS(gemm_mlp_gelu(a, b1, bias1, b2, bias2, Tensor::zeros({900, 25})),
                         doctest::Contains("residual"), Error);
  }
  set_thin_gemm_choice("auto");
}

TEST_CASE("FeedForward: one op while sampling, the same bits as the two layers; layer by layer otherwise") {
  Generator gen(3);
  FeedForward ff(32, 128, gen);  // (B, N, C) tokens -> (B, N, 4C) -> (B, N, C), as in the AttnBlocks
  const Tensor xv = rand_normal({4, 200, 32}, gen, 0, 1), rv = rand_normal({4, 200, 32}, gen, 0, 1);
  for (const char* cap : {"avx512", "off"}) {
    CAPTURE(cap);
    set_thin_gemm_choice(cap);
    // with a backward to come: the two ops, recorded
    const Var x(xv.clone(), true), r(rv.clone(), true);
    const Var recorded = ff.forward_add(x, r);
    CHECK(std::string(recorded.op()) == "linear");
    recorded.backward(Tensor::ones(recorded.shape()));
    CHECK(x.grad().defined());
    CHECK(r.grad().to_vector() == Tensor::ones(r.shape()).to_vector());  // d/dr (r + ff(x)) = 1
    ff.zero_grad();
    ag::NoGrad no_grad;
    const Var fused = ff.forward_add(Var(xv), Var(rv));
    CHECK(std::string(fused.op()) == "feed_forward");
    CHECK(fused.value().to_vector() == recorded.value().to_vector());
    CHECK(ff.forward(Var(xv)).value().to_vector() ==
          ff.fc2->forward(ff.fc1->forward_gelu(Var(xv))).value().to_vector());  // without a residual
    CHECK_THROWS_WITH_AS(ff.forward(Var(Tensor::zeros({2, 31}))), doctest::Contains("must end in 32"), Error);
  }
  set_thin_gemm_choice("auto");
  // a replaced layer (low-rank compression, LoRA): layer by layer, the replacement's own forward
  ff.fc1 = nn::make<nn::LowRankLinear>(32, 128, 8, true, gen);
  ag::NoGrad no_grad;
  const Var y = ff.forward_add(Var(xv), Var(rv));
  CHECK(std::string(y.op()) == "linear");
  CHECK(y.value().to_vector() ==
        ff.fc2->forward_add(ff.fc1->forward_gelu(Var(xv)), Var(rv)).value().to_vector());
}
