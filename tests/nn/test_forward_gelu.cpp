// Module::forward_gelu (nn/module.h): a layer and its GELU. Linear GELUs its output rows while they are
// in cache (ag::linear_gelu, tensor/matmul.h gemm_bias_gelu); the output and every gradient must have
// the very bits of gelu(forward(x)) (the separate op it replaces), on thin_gemm and on OpenBLAS, with and
// without a backward to come; any other module applies gelu afterwards.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "nn/activation.h"
#include "nn/linear.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/thin_gemm.h"

using namespace ld;
using namespace ld::nn;

namespace {

// forward_gelu against gelu(forward): outputs, then the gradients of x, W and b for one dY
void check_same_bits(Linear& lin, const Tensor& x_value, Generator& gen) {
  const Var x1(x_value.clone(), true), x2(x_value.clone(), true);
  const Var fused = lin.forward_gelu(x1);
  const Var separate = ag::gelu(lin.forward(x2));
  REQUIRE(fused.shape() == separate.shape());
  CHECK(fused.value().to_vector() == separate.value().to_vector());
  const Tensor dy = rand_normal(fused.shape(), gen, 0, 1);
  lin.zero_grad();
  fused.backward(dy);
  const std::vector<float> dx1 = x1.grad().to_vector(), dw1 = lin.weight.grad().to_vector();
  const std::vector<float> db1 = lin.bias.defined() ? lin.bias.grad().to_vector() : std::vector<float>{};
  lin.zero_grad();
  separate.backward(dy);
  CHECK(dx1 == x2.grad().to_vector());
  CHECK(dw1 == lin.weight.grad().to_vector());
  if (lin.bias.defined()) CHECK(db1 == lin.bias.grad().to_vector());
  // without a backward to come (sampling): no pre-activation kept, the same output
  ag::NoGrad no_grad;
  CHECK(lin.forward_gelu(Var(x_value)).value().to_vector() == separate.value().to_vector());
}

}  // namespace

TEST_CASE(
    "Linear::forward_gelu has the bits of gelu(forward(x)), forward and backward, on thin_gemm and "
    "OpenBLAS") {
  Generator gen(1);
  for (const char* cap : {"avx2", "avx512", "off"}) {  // each kernel this CPU has, and OpenBLAS
    CAPTURE(cap);
    set_thin_gemm_choice(cap);
    for (bool bias : {true, false})
      for (int64_t rows :
           {5, 700, 1000}) {  // 700, 1000: thin_gemm where the CPU has it, blocks of 128 + a rest
        CAPTURE(bias);
        CAPTURE(rows);
        Linear lin(48, 96, bias, gen);
        check_same_bits(lin, rand_normal({rows, 48}, gen, 0, 1), gen);
      }
    Linear lin(16, 64, true, gen);  // (B, N, C) tokens, as in the transformer blocks
    check_same_bits(lin, rand_normal({3, 200, 16}, gen, 0, 1), gen);
  }
  set_thin_gemm_choice("auto");
}

TEST_CASE(
    "gemm_bias_gelu: y = GELU(u) and the pre-activation u as gemm_bias computes it; a wrong pre refused") {
  Generator gen(2);
  for (const char* cap : {"avx512", "off"}) {
    CAPTURE(cap);
    set_thin_gemm_choice(cap);
    const Tensor a = rand_normal({900, 32}, gen, 0, 1), w = rand_normal({72, 32}, gen, 0, 0.3f);
    const Tensor bias = rand_normal({72}, gen, 0, 1);
    Tensor u = Tensor::empty({900, 72});
    gemm_bias(a, w.transpose(0, 1), bias, u);
    const Tensor pre = Tensor::empty({900, 72});
    const Tensor y = gemm_bias_gelu(a, w.transpose(0, 1), bias, pre);
    CHECK(pre.to_vector() == u.to_vector());
    CHECK(y.to_vector() == unary(Unary::Gelu, u).to_vector());
    CHECK_THROWS_WITH_AS(gemm_bias_gelu(a, w.transpose(0, 1), bias, Tensor::empty({900, 71})),
                         doctest::Contains("pre-activation"), Error);
  }
  set_thin_gemm_choice("auto");
}

TEST_CASE(
    "gemm_bias_gelu reads strided operands, a plain B and a strided bias, and has the same bits on any "
    "thread count") {
  Generator gen(4);
  const Tensor wide = rand_normal({1000, 40}, gen, 0, 1);
  const Tensor a = wide.narrow(1, 3, 32);                            // rows 40 floats apart, 32 used
  const Tensor b = rand_normal({32, 48}, gen, 0, 0.3f);              // K x N as it lies (no transpose)
  const Tensor bias = rand_normal({48, 2}, gen, 0, 1).select(1, 1);  // every other float
  for (const char* cap : {"avx512", "off"}) {
    CAPTURE(cap);
    set_thin_gemm_choice(cap);
    Tensor u = Tensor::empty({1000, 48});
    gemm_bias(a, b, bias, u);
    const std::vector<float> expected = unary(Unary::Gelu, u).to_vector();
    const int saved = num_threads();
    for (int threads : {1, 2, 3}) {
      CAPTURE(threads);
      set_num_threads(threads);
      const Tensor pre = Tensor::empty({1000, 48});
      CHECK(gemm_bias_gelu(a, b, bias, pre).to_vector() == expected);
      CHECK(pre.to_vector() == u.to_vector());
      CHECK(gemm_bias_gelu(a, b, bias).to_vector() == expected);  // no pre-activation kept
    }
    set_num_threads(saved);
    CHECK_THROWS_WITH_AS(gemm_bias_gelu(a, b, bias, Tensor::empty({48, 1000}).transpose(0, 1)),
                         doctest::Contains("contiguous"), Error);
  }
  set_thin_gemm_choice("auto");
}

TEST_CASE("forward_gelu: a module without its own applies gelu afterwards; Linear checks its input") {
  Generator gen(3);
  SiLU act;
  const Var a(rand_normal({2, 3}, gen, 0, 1));
  CHECK(act.forward_gelu(a).value().to_vector() == ag::gelu(act.forward(a)).value().to_vector());
  Linear lin(4, 3, true, gen);
  CHECK_THROWS_WITH_AS(lin.forward_gelu(Var(Tensor::zeros({2, 5}))), doctest::Contains("must end in 4"),
                       Error);
}
