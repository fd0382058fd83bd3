// tests/tensor/test_reference_kernels.cpp: every fast kernel against its plain reference
// (tensor/reference.h): BLAS GEMM and batched matmul, im2col and Winograd convolutions forward and backward,
// softmax, layer and group norm forward and backward; and LORADIFF_KERNELS' switch (set_kernels) really
// routing the ops there.
#include <doctest/doctest.h>

#include <cmath>

#include "tensor/matmul.h"
#include "tensor/random.h"
#include "tensor/reference.h"
#include "tensor/softmax.h"

using namespace ld;

namespace {

void check_close(const Tensor& fast, const Tensor& ref, double tol = 1e-4) {
  REQUIRE(fast.shape() == ref.shape());
  const auto a = fast.to_vector(), b = ref.to_vector();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - b[i]) / (1.0 + std::abs(b[i])));
  CHECK(worst <= tol);
}

struct ReferenceScope {  // set_kernels for one block, restored afterwards
  Kernels old = kernels();
  explicit ReferenceScope(Kernels k) { set_kernels(k); }
  ~ReferenceScope() { set_kernels(old); }
};

}  // namespace

TEST_CASE("gemm: BLAS equals the triple loop, with transposed and sliced operands, alpha and beta") {
  Generator g(1);
  Tensor a = rand_normal({13, 9}, g), b = rand_normal({9, 7}, g), c0 = rand_normal({13, 7}, g);
  for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.5f, 2.0f}}) {
    Tensor fast = c0.clone(), ref = c0.clone();
    gemm(a, b, fast, alpha, beta);
    gemm_reference(a, b, ref, alpha, beta);
    check_close(fast, ref);
  }
  Tensor at = rand_normal({9, 13}, g).transpose(0, 1), bt = rand_normal({7, 9}, g).transpose(0, 1);
  Tensor fast = Tensor::zeros({13, 7}), ref = Tensor::zeros({13, 7});
  gemm(at, bt, fast);
  gemm_reference(at, bt, ref, 1.0f, 0.0f);
  check_close(fast, ref);
}

TEST_CASE("matmul: batched and broadcast products equal the plain loops") {
  Generator g(2);
  Tensor a = rand_normal({2, 3, 5, 4}, g), b = rand_normal({3, 4, 6}, g);
  const Tensor fast = matmul(a, b);
  Tensor ref;
  {
    ReferenceScope s(Kernels::Reference);
    ref = matmul(a, b);
  }
  check_close(fast, ref);
}

TEST_CASE("conv2d: im2col and Winograd paths equal the direct convolution, forward and backward") {
  Generator g(3);
  struct Case {
    Shape x, w;
    int64_t s, p;
    double tol = 1e-4;
  };
  // 3x3 stride 1 pad 1 with >= 16 channels in and out takes the Winograd path (F(4x4) on planes of
  // 16x16 and more, F(2x2) on smaller ones: tensor/winograd.h); the others im2col. F(4x4) is
  // off by up to ~5e-6 of the outputs' scale (tests/tensor/test_winograd44.cpp), which reaches ~100
  // with 64 channels: an absolute 5e-4, hence its own tolerance.
  for (Case c : {Case{{2, 3, 7, 7}, {4, 3, 3, 3}, 1, 1}, Case{{2, 3, 8, 8}, {2, 3, 3, 3}, 2, 1},
                 Case{{1, 4, 5, 5}, {3, 4, 1, 1}, 1, 0}, Case{{2, 16, 6, 5}, {16, 16, 3, 3}, 1, 1},
                 Case{{1, 96, 33, 32}, {32, 96, 3, 3}, 1, 1, 2e-3}}) {
    CAPTURE(c.x);
    Tensor x = rand_normal(c.x, g), w = rand_normal(c.w, g), b = rand_normal({c.w[0]}, g);
    const Tensor y = conv2d_forward(x, w, b, c.s, c.p);
    check_close(y, conv2d_reference_forward(x, w, b, c.s, c.p), c.tol);
    Tensor dy = rand_normal(y.shape(), g);
    const Conv2dGrads fast = conv2d_backward(x, w, dy, c.s, c.p, true, true, true);
    const Conv2dGrads ref = conv2d_reference_backward(x, w, dy, c.s, c.p, true, true, true);
    check_close(fast.dx, ref.dx, c.tol);
    check_close(fast.dw, ref.dw, c.tol);
    check_close(fast.dbias, ref.dbias);
  }
}

TEST_CASE("softmax: fast rows equal the plain ones, on any axis, with fully masked rows") {
  Generator g(4);
  Tensor x = rand_normal({3, 5, 7}, g);
  x.f32()[0] = -INFINITY;
  for (int64_t axis : {-1, 1, 0}) {
    const Tensor y = softmax(x, axis);
    check_close(y, softmax_reference(x, axis), 1e-6);
    Tensor dy = rand_normal(x.shape(), g);
    check_close(softmax_backward(y, dy, axis), softmax_backward_reference(y, dy, axis), 1e-6);
  }
  Tensor masked = Tensor::full({2, 4}, -INFINITY);
  check_close(softmax_reference(masked, -1), Tensor::zeros({2, 4}));
}

TEST_CASE("layer and group norm: fast equal the plain loops, forward and backward") {
  Generator g(5);
  {
    Tensor x = rand_normal({6, 10}, g, 1.0f, 3.0f), gm = rand_normal({10}, g), bt = rand_normal({10}, g);
    const NormResult f = layer_norm_forward(x, gm, bt, 1e-5f),
                     r = layer_norm_reference_forward(x, gm, bt, 1e-5f);
    check_close(f.y, r.y);
    check_close(f.mean, r.mean);
    check_close(f.rstd, r.rstd);
    Tensor dy = rand_normal(x.shape(), g);
    const NormGrads fg = layer_norm_backward(x, gm, f, dy), rg = layer_norm_reference_backward(x, gm, r, dy);
    check_close(fg.dx, rg.dx);
    check_close(fg.dgamma, rg.dgamma);
    check_close(fg.dbeta, rg.dbeta);
  }
  {
    Tensor x = rand_normal({3, 8, 4, 5}, g, -1.0f, 2.0f), gm = rand_normal({8}, g), bt = rand_normal({8}, g);
    const NormResult f = group_norm_forward(x, 4, gm, bt, 1e-5f),
                     r = group_norm_reference_forward(x, 4, gm, bt, 1e-5f);
    check_close(f.y, r.y);
    Tensor dy = rand_normal(x.shape(), g);
    const NormGrads fg = group_norm_backward(x, 4, gm, f, dy),
                    rg = group_norm_reference_backward(x, 4, gm, r, dy);
    check_close(fg.dx, rg.dx);
    check_close(fg.dgamma, rg.dgamma);
    check_close(fg.dbeta, rg.dbeta);
  }
  {  // GroupNorm + SiLU in one pass: fast equals the plain composition, forward and backward
    Tensor x = rand_normal({3, 8, 4, 5}, g, -1.0f, 2.0f), gm = rand_normal({8}, g), bt = rand_normal({8}, g);
    const NormResult f = group_norm_silu_forward(x, 4, gm, bt, 1e-5f),
                     r = group_norm_silu_reference_forward(x, 4, gm, bt, 1e-5f);
    check_close(f.y, r.y);
    Tensor dz = rand_normal(x.shape(), g);
    const NormGrads fg = group_norm_silu_backward(x, 4, gm, bt, f, dz),
                    rg = group_norm_silu_reference_backward(x, 4, gm, bt, r, dz);
    check_close(fg.dx, rg.dx);
    check_close(fg.dgamma, rg.dgamma);
    check_close(fg.dbeta, rg.dbeta);
  }
}

TEST_CASE("set_kernels(Reference) routes the ops to the reference kernels, bit for bit") {
  Generator g(6);
  Tensor x = rand_normal({2, 16, 6, 6}, g), w = rand_normal({16, 16, 3, 3}, g), b = rand_normal({16}, g);
  const Tensor fast = conv2d_forward(x, w, b, 1, 1);
  Tensor routed;
  {
    ReferenceScope s(Kernels::Reference);
    CHECK(use_reference_kernels());
    CHECK(std::string(kernels_name(kernels())) == "reference");
    routed = conv2d_forward(x, w, b, 1, 1);
    CHECK(softmax(x, -1).to_vector() == softmax_reference(x, -1).to_vector());
  }
  CHECK_FALSE(use_reference_kernels());
  CHECK(routed.to_vector() == conv2d_reference_forward(x, w, b, 1, 1).to_vector());
  CHECK(routed.to_vector() != fast.to_vector());  // the Winograd path rounds differently: it really switched
}
