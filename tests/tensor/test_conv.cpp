// conv2d (im2col + GEMM, and Winograd F(2x2, 3x3) for 3x3 stride 1 with >= 16 channels) against
// a direct 7-loop convolution and its direct gradients; im2col/col2im adjointness.
#include <doctest/doctest.h>

#include "tensor/conv.h"
#include "tensor/elementwise.h"
#include "tensor/random.h"
#include "tensor/reduce.h"
#include "tensor/thin_gemm.h"
#include "tensor/winograd.h"

using namespace ld;

static Tensor direct_conv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), O = w.size(0), kh = w.size(2),
                kw = w.size(3);
  const int64_t Ho = (H + 2 * p - kh) / s + 1, Wo = (W + 2 * p - kw) / s + 1;
  std::vector<float> y(N * O * Ho * Wo, 0.0f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          float acc = b.defined() ? b.at({o}) : 0.0f;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                int64_t h = i * s - p + u, ww = j * s - p + v;
                if (h >= 0 && h < H && ww >= 0 && ww < W) acc += w.at({o, c, u, v}) * x.at({n, c, h, ww});
              }
          y[((n * O + o) * Ho + i) * Wo + j] = acc;
        }
  return Tensor::from_vector(y, {N, O, Ho, Wo});
}

static void check_close(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i) CHECK(x[i] == doctest::Approx(y[i]).epsilon(1e-4));
}

TEST_CASE("conv2d forward equals the direct convolution") {
  Generator g(11);
  struct Case {
    Shape x, w;
    int64_t s, p;
  };
  // stride 1 with <= 3 channels on a side: summed directly (kDirectMaxChannels: 1 -> 4, 5 -> 1 with
  // padding 1, 3 -> 4 and 2 -> 2 without, a 5x5 kernel); im2col + GEMM: stride 2, 5 -> 4 channels; the
  // 1x1 path
  for (Case c : {Case{{2, 3, 7, 7}, {4, 3, 3, 3}, 1, 1}, Case{{2, 3, 8, 8}, {2, 3, 3, 3}, 2, 1},
                 Case{{1, 4, 5, 5}, {3, 4, 1, 1}, 1, 0}, Case{{3, 2, 6, 5}, {2, 2, 3, 3}, 1, 0},
                 Case{{2, 1, 7, 6}, {4, 1, 3, 3}, 1, 1}, Case{{2, 5, 6, 7}, {1, 5, 3, 3}, 1, 1},
                 Case{{1, 2, 9, 8}, {3, 2, 5, 5}, 1, 2}, Case{{2, 5, 6, 6}, {4, 5, 3, 3}, 1, 1}}) {
    Tensor x = rand_normal(c.x, g), w = rand_normal(c.w, g), b = rand_normal({c.w[0]}, g);
    const Tensor y0 = direct_conv(x, w, b, c.s, c.p), r = rand_normal(y0.shape(), g);
    // im2col's product in loradiff's kernel (AVX-512 CPUs) and in OpenBLAS
    for (const char* kernel : {"auto", "off"}) {
      CAPTURE(kernel);
      set_thin_gemm_choice(kernel);
      check_close(conv2d_forward(x, w, b, c.s, c.p), y0);
      // with a residual, added after the bias as each plane is written; without a bias
      check_close(conv2d_forward(x, w, b, c.s, c.p, r), add(y0, r));
      check_close(conv2d_forward(x, w, Tensor(), c.s, c.p),
                  direct_conv(x, w, Tensor::zeros({c.w[0]}), c.s, c.p));
    }
    set_thin_gemm_choice("auto");
  }
  // strides 2 and 3, odd and even sides, paddings 0-2, kernels 3-5 (im2col_strided_sample's phases)
  for (Case c : {Case{{2, 4, 7, 9}, {5, 4, 3, 3}, 2, 1}, Case{{1, 6, 10, 8}, {4, 6, 3, 3}, 2, 0},
                 Case{{2, 4, 11, 10}, {3, 4, 5, 5}, 3, 2}, Case{{1, 5, 9, 9}, {6, 5, 4, 4}, 2, 1}}) {
    Tensor x = rand_normal(c.x, g), w = rand_normal(c.w, g), b = rand_normal({c.w[0]}, g);
    check_close(conv2d_forward(x, w, b, c.s, c.p), direct_conv(x, w, b, c.s, c.p));
  }
}

// The gradients of the direct convolution, written out:
//   dx[n,c,h,w] += dy[n,o,i,j] w[o,c,u,v],  dw[o,c,u,v] += dy[n,o,i,j] x[n,c,h,w]
//   with h = i s - p + u, w = j s - p + v
static std::pair<Tensor, Tensor> direct_conv_grads(const Tensor& x, const Tensor& w, const Tensor& dy,
                                                   int64_t s, int64_t p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), O = w.size(0), kh = w.size(2),
                kw = w.size(3), Ho = dy.size(2), Wo = dy.size(3);
  std::vector<double> dx(x.numel(), 0.0), dw(w.numel(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          const double g = dy.at({n, o, i, j});
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                int64_t h = i * s - p + u, ww = j * s - p + v;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                dx[((n * C + c) * H + h) * W + ww] += g * w.at({o, c, u, v});
                dw[((o * C + c) * kh + u) * kw + v] += g * x.at({n, c, h, ww});
              }
        }
  return {Tensor::from_vector(std::vector<float>(dx.begin(), dx.end()), x.shape()),
          Tensor::from_vector(std::vector<float>(dw.begin(), dw.end()), w.shape())};
}

TEST_CASE("conv2d backward equals the direct gradients (im2col and Winograd paths)") {
  Generator g(14);
  struct Case {
    Shape x, w;
    int64_t s, p;
    bool winograd;
  };
  for (Case c :
       {Case{{2, 3, 7, 7}, {4, 3, 3, 3}, 1, 1, false}, Case{{2, 3, 8, 8}, {2, 3, 3, 3}, 2, 1, false},
        Case{{2, 16, 6, 6}, {16, 16, 3, 3}, 1, 1, true}, Case{{3, 17, 5, 7}, {20, 17, 3, 3}, 1, 1, true},
        Case{{2, 16, 1, 1}, {16, 16, 3, 3}, 1, 1, true}, Case{{1, 16, 2, 9}, {18, 16, 3, 3}, 1, 1, true},
        // strided rows with padding on both sides, odd widths, a stride larger than the padding
        Case{{3, 2, 7, 9}, {3, 2, 3, 3}, 2, 1, false}, Case{{2, 2, 11, 10}, {2, 2, 5, 5}, 3, 2, false},
        Case{{2, 1, 9, 7}, {2, 1, 3, 3}, 2, 0, false},
        // a 1-channel input and a 1-channel output (conv_in, out_conv), a 1x1 over a batch of 5
        Case{{5, 1, 6, 6}, {4, 1, 3, 3}, 1, 1, false}, Case{{5, 4, 6, 6}, {1, 4, 3, 3}, 1, 1, false},
        Case{{5, 6, 3, 4}, {7, 6, 1, 1}, 1, 0, false}}) {
    CAPTURE(shape_str(c.x));
    CHECK(winograd_applies(c.x[1], c.w[0], c.w[2], c.w[3], c.s, c.p) == c.winograd);
    Tensor x = rand_normal(c.x, g), w = rand_normal(c.w, g), b = rand_normal({c.w[0]}, g);
    Tensor y = conv2d_forward(x, w, b, c.s, c.p);
    check_close(y, direct_conv(x, w, b, c.s, c.p));
    Tensor dy = rand_normal(y.shape(), g);
    Conv2dGrads r = conv2d_backward(x, w, dy, c.s, c.p, true, true, true);
    auto [dx, dw] = direct_conv_grads(x, w, dy, c.s, c.p);
    check_close(r.dx, dx);
    check_close(r.dw, dw);
  }
}

TEST_CASE("conv2d of an empty batch: empty output, zero weight gradient (both paths)") {
  for (int64_t c : {3, 16}) {
    CAPTURE(c);
    Tensor x = Tensor::zeros({0, c, 5, 5}), w = Tensor::ones({16, c, 3, 3});
    Tensor y = conv2d_forward(x, w, Tensor(), 1, 1);
    CHECK(y.shape() == Shape{0, 16, 5, 5});
    Conv2dGrads r = conv2d_backward(x, w, Tensor::zeros({0, 16, 5, 5}), 1, 1, true, true, true);
    CHECK(r.dx.shape() == x.shape());
    for (float v : r.dw.to_vector()) CHECK(v == 0.0f);
  }
}

TEST_CASE("col2im is the adjoint of im2col: <im2col(x), c> == <x, col2im(c)>") {
  Generator g(12);
  Tensor x = rand_normal({2, 3, 6, 6}, g);
  Tensor col = im2col(x, 3, 3, 2, 1);
  Tensor c = rand_normal(col.shape(), g);
  double lhs = sum(mul(col, c)).item();
  double rhs = sum(mul(x, col2im(c, x.shape(), 3, 3, 2, 1))).item();
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-4));
}

TEST_CASE("conv2d backward: the bias gradient is the sum of dy; shapes") {
  Generator g(13);
  Tensor x = rand_normal({2, 3, 5, 5}, g), w = rand_normal({4, 3, 3, 3}, g),
         dy = rand_normal({2, 4, 5, 5}, g);
  Conv2dGrads r = conv2d_backward(x, w, dy, 1, 1, true, true, true);
  CHECK(r.dx.shape() == x.shape());
  CHECK(r.dw.shape() == w.shape());
  CHECK(r.dbias.at({2}) == doctest::Approx(sum(dy.select(1, 2)).item()).epsilon(1e-5));
  Conv2dGrads only_w = conv2d_backward(x, w, dy, 1, 1, false, true, false);
  CHECK_FALSE(only_w.dx.defined());
}

TEST_CASE("conv2d errors name the shapes") {
  CHECK_THROWS_WITH_AS(
      conv2d_forward(Tensor::zeros({1, 3, 5, 5}), Tensor::zeros({2, 4, 3, 3}), Tensor(), 1, 1),
      doctest::Contains("has 3 channels but weight (2,4,3,3) expects 4"), Error);
  CHECK_THROWS_AS(conv2d_forward(Tensor::zeros({3, 5, 5}), Tensor::zeros({2, 3, 3, 3}), Tensor(), 1, 1),
                  Error);
  CHECK_THROWS_AS(conv2d_forward(Tensor::zeros({1, 3, 2, 2}), Tensor::zeros({2, 3, 5, 5}), Tensor(), 1, 0),
                  Error);
}
