// Module::forward_add (nn/module.h): a layer plus a residual connection. Linear and Conv2d add the
// residual as they write their output; the result must have the very bits of forward(x) + r (the
// separate add it replaces), on every kernel path: thin_gemm and OpenBLAS for Linear, 1x1,
// im2col, strided and Winograd for Conv2d; gradients reach the residual; a module without its own
// forward_add adds afterwards; a residual of the wrong shape is refused.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "nn/activation.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "tensor/random.h"
#include "tensor/thin_gemm.h"
#include "tensor/winograd.h"

using namespace ld;
using namespace ld::nn;

namespace {

void check_same_bits(Module& m, const Var& x, const Var& r) {
  const std::vector<float> fused = m.forward_add(x, r).value().to_vector();
  const std::vector<float> separate = ag::add(m.forward(x), r).value().to_vector();
  CHECK(fused == separate);
}

}  // namespace

TEST_CASE("Linear::forward_add has the bits of forward(x) + r, on thin_gemm and on OpenBLAS") {
  Generator gen(1);
  for (const char* cap : {"avx2", "avx512", "off"}) {  // each kernel this CPU has, and OpenBLAS
    CAPTURE(cap);
    set_thin_gemm_choice(cap);
    for (bool bias : {true, false})
      for (int64_t rows : {5, 700}) {  // 700 rows: the thin_gemm path where the CPU has it
        CAPTURE(bias);
        CAPTURE(rows);
        Linear lin(48, 40, bias, gen);
        const Var x(rand_normal({rows, 48}, gen, 0, 1)), r(rand_normal({rows, 40}, gen, 0, 1));
        check_same_bits(lin, x, r);
      }
  }
  set_thin_gemm_choice("auto");
}

TEST_CASE("Conv2d::forward_add has the bits of forward(x) + r on every convolution path") {
  Generator gen(2);
  struct Case {
    int64_t n, cin, cout, k, stride, pad, hw;
    const char* path;
  };
  const Case cases[] = {{2, 8, 6, 1, 1, 0, 5, "1x1, samples over the threads"},
                        {1, 8, 6, 1, 1, 0, 5, "1x1, one sample: its GEMM over the threads"},
                        {2, 3, 4, 3, 1, 1, 6, "im2col"},
                        {2, 4, 5, 3, 2, 1, 7, "strided im2col"},
                        {2, 16, 16, 3, 1, 1, 7, "Winograd F(2x2)"},
                        {1, 64, 64, 3, 1, 1, 28, "Winograd F(4x4)"}};  // a 28x28 plane: F(4x4)
  CHECK(winograd_tile(28, 28) == 4);  // the last case runs F(4x4)
  for (const Case& c : cases)
    for (bool bias : {true, false}) {
      CAPTURE(c.path);
      CAPTURE(bias);
      Conv2d conv(c.cin, c.cout, c.k, c.stride, c.pad, bias, gen);
      const Var x(rand_normal({c.n, c.cin, c.hw, c.hw}, gen, 0, 1));
      const Shape ys = conv.forward(x).shape();
      const Var r(rand_normal(ys, gen, 0, 1));
      check_same_bits(conv, x, r);
    }
}

TEST_CASE("forward_add: the residual gets the output's gradient; other modules add afterwards") {
  Generator gen(3);
  Linear lin(4, 3, true, gen);
  const Var x(rand_normal({2, 4}, gen, 0, 1), true), r(rand_normal({2, 3}, gen, 0, 1), true);
  const Tensor dy = rand_normal({2, 3}, gen, 0, 1);
  lin.forward_add(x, r).backward(dy);
  CHECK(r.grad().to_vector() == dy.to_vector());

  SiLU act;  // no forward_add of its own: Module's default, forward(x) + r
  const Var a(rand_normal({2, 3}, gen, 0, 1));
  CHECK(act.forward_add(a, r).value().to_vector() == ag::add(act.forward(a), r).value().to_vector());
}

TEST_CASE("forward_add refuses a residual that is not the output's shape") {
  Generator gen(4);
  Linear lin(4, 3, true, gen);
  Conv2d conv(2, 3, 3, 1, 1, true, gen);
  CHECK_THROWS_WITH_AS(lin.forward_add(Var(Tensor::zeros({2, 4})), Var(Tensor::zeros({2, 4}))),
                       doctest::Contains("residual"), Error);
  CHECK_THROWS_WITH_AS(conv.forward_add(Var(Tensor::zeros({1, 2, 4, 4})), Var(Tensor::zeros({1, 3, 4, 5}))),
                       doctest::Contains("residual"), Error);
}
