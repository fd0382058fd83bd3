// Winograd F(4x4, 3x3) (tensor/winograd44.cpp) and F(2x2, 3x3) against a direct convolution summed
// in double: forward, input gradient (the forward with the flipped kernel, as conv2d_backward runs
// it) and weight gradient, on plane sizes that are and are not multiples of the tile; the error
// bound of each variant, at every SIMD level (the transforms' channel loops and the AVX2 transposes
// to and from channels last; tensor/winograd_tiles.h), with channel counts around the transforms'
// block of 64 and the transposes' block of 8; the per-shape choice between them; forward bits
// independent of the thread count; the bias and residual added by the output's transpose.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "tensor/conv.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/simd_dispatch.h"
#include "tensor/winograd.h"

using namespace ld;

namespace {

struct Shape5 {
  int64_t N, C, H, W, Cout;
};

// y = conv3x3(x, w), padding 1, summed in double.
std::vector<double> direct_forward(const std::vector<float>& x, const std::vector<float>& w,
                                   const Shape5& s) {
  std::vector<double> y(static_cast<size_t>(s.N * s.Cout * s.H * s.W), 0.0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.Cout; ++o)
      for (int64_t i = 0; i < s.H; ++i)
        for (int64_t j = 0; j < s.W; ++j) {
          double acc = 0.0;
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t u = 0; u < 3; ++u)
              for (int64_t v = 0; v < 3; ++v) {
                const int64_t h = i - 1 + u, ww = j - 1 + v;
                if (h >= 0 && h < s.H && ww >= 0 && ww < s.W)
                  acc += double(w[((o * s.C + c) * 3 + u) * 3 + v]) * x[((n * s.C + c) * s.H + h) * s.W + ww];
              }
          y[((n * s.Cout + o) * s.H + i) * s.W + j] = acc;
        }
  return y;
}

// dw[o, c, u, v] = sum dy[n, o, i, j] x[n, c, i - 1 + u, j - 1 + v], in double.
std::vector<double> direct_dw(const std::vector<float>& x, const std::vector<float>& dy, const Shape5& s) {
  std::vector<double> dw(static_cast<size_t>(s.Cout * s.C * 9), 0.0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.Cout; ++o)
      for (int64_t c = 0; c < s.C; ++c)
        for (int64_t u = 0; u < 3; ++u)
          for (int64_t v = 0; v < 3; ++v) {
            double acc = 0.0;
            for (int64_t i = 0; i < s.H; ++i)
              for (int64_t j = 0; j < s.W; ++j) {
                const int64_t h = i - 1 + u, ww = j - 1 + v;
                if (h >= 0 && h < s.H && ww >= 0 && ww < s.W)
                  acc += double(dy[((n * s.Cout + o) * s.H + i) * s.W + j]) *
                         x[((n * s.C + c) * s.H + h) * s.W + ww];
              }
            dw[((o * s.C + c) * 3 + u) * 3 + v] += acc;
          }
  return dw;
}

// The largest |got - want| over the largest |want|: the error relative to the output's scale.
double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double err = 0.0, scale = 1e-30;
  for (size_t i = 0; i < got.size(); ++i) {
    err = std::max(err, std::abs(double(got[i]) - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return err / scale;
}

std::vector<float> random_vector(int64_t n, Generator& g) { return rand_normal({n}, g).to_vector(); }

// w (Cout, C, 3, 3) -> (C, Cout, 3, 3) flipped in space: the kernel whose forward is the input gradient.
std::vector<float> flipped(const std::vector<float>& w, int64_t Cout, int64_t C) {
  std::vector<float> f(w.size());
  for (int64_t o = 0; o < Cout; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < 9; ++k) f[(c * Cout + o) * 9 + k] = w[(o * C + c) * 9 + 8 - k];
  return f;
}

// Bounds on the error relative to the output's scale. Measured over the shapes below (N(0,1) data,
// sums of 16 - 48 channels x 9 taps): F(2x2) up to 3e-7, F(4x4) up to 5e-6 (forward, the 28x28 plane)
// and 3e-6 (dw): the transforms' large coefficients (5, 8 in B^T and A^T, 1/24 in G) scale the
// products' rounding. The bounds leave 3-4x of room; a wrong transform coefficient gives errors of
// order 1e-1.
double bound(int tile) { return tile == 2 ? 1e-6 : 2e-5; }

const Shape5 kShapes[] = {{2, 16, 5, 7, 20}, {3, 17, 7, 7, 16}, {2, 16, 14, 14, 24}, {2, 16, 28, 28, 16},
                          {2, 16, 1, 1, 16}, {2, 16, 2, 3, 18}, {1, 48, 9, 6, 16},   {4, 16, 4, 8, 16},
                          {2, 70, 6, 5, 66}, {1, 130, 3, 9, 21}};

}  // namespace

TEST_CASE("Winograd F(4x4) and F(2x2): forward, input gradient and weight gradient equal the direct sums") {
  Generator g(44);
  for (const Shape5& s : kShapes) {
    const std::vector<float> x = random_vector(s.N * s.C * s.H * s.W, g),
                             w = random_vector(s.Cout * s.C * 9, g),
                             dy = random_vector(s.N * s.Cout * s.H * s.W, g);
    const std::vector<double> y_ref = direct_forward(x, w, s), dw_ref = direct_dw(x, dy, s);
    // the input gradient is the forward of dy with the flipped kernel (in/out channels swapped)
    const Shape5 back{s.N, s.Cout, s.H, s.W, s.C};
    const std::vector<float> wf = flipped(w, s.Cout, s.C);
    const std::vector<double> dx_ref = direct_forward(dy, wf, back);
    const SimdLevel saved = simd_level();
    for (SimdLevel level : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512})
      for (int tile : {2, 4}) {
        set_simd_level(level);  // capped at what this CPU has
        INFO("N ", s.N, " C ", s.C, " H ", s.H, " W ", s.W, " Cout ", s.Cout, " tile ", tile, " SIMD ",
             std::string(simd_level_name(simd_level())));
        std::vector<float> y(y_ref.size(), NAN), dx(dx_ref.size(), NAN), dw(dw_ref.size(), NAN);
        winograd_conv3x3(x.data(), w.data(), s.N, s.C, s.H, s.W, s.Cout, y.data(), tile);
        winograd_conv3x3(dy.data(), wf.data(), s.N, s.Cout, s.H, s.W, s.C, dx.data(), tile);
        winograd_conv3x3_dw(x.data(), dy.data(), s.N, s.C, s.H, s.W, s.Cout, dw.data(), tile);
        const double ey = relative_error(y, y_ref), edx = relative_error(dx, dx_ref),
                     edw = relative_error(dw, dw_ref);
        MESSAGE("F(", tile, "x", tile, ") ", s.C, "->", s.Cout, " ", s.H, "x", s.W, " ",
                std::string(simd_level_name(simd_level())), ": relative error y ", ey, " dx ", edx, " dw ",
                edw);
        CHECK(ey < bound(tile));
        CHECK(edx < bound(tile));
        CHECK(edw < bound(tile));
      }
    set_simd_level(saved);
  }
}

TEST_CASE("conv2d's Winograd paths (forward, dx, dw) equal the direct sums at the selected tiles") {
  Generator g(45);
  // 16x17: F(4x4) (forward, dx, dw); 7x7: F(2x2)
  for (const Shape5& s : {Shape5{1, 128, 16, 17, 128}, Shape5{2, 16, 16, 17, 24}, Shape5{2, 32, 7, 7, 16}}) {
    INFO("H ", s.H, " W ", s.W, " C ", s.C, " Cout ", s.Cout);
    Tensor x = rand_normal({s.N, s.C, s.H, s.W}, g), w = rand_normal({s.Cout, s.C, 3, 3}, g),
           dy = rand_normal({s.N, s.Cout, s.H, s.W}, g);
    const std::vector<float> xv = x.to_vector(), wv = w.to_vector(), dyv = dy.to_vector();
    const double tol = bound(winograd_tile(s.H, s.W));  // forward, dx and dw run the same variant
    CHECK(relative_error(conv2d_forward(x, w, Tensor(), 1, 1).to_vector(), direct_forward(xv, wv, s)) < tol);
    Conv2dGrads r = conv2d_backward(x, w, dy, 1, 1, true, true, false);
    CHECK(relative_error(r.dw.to_vector(), direct_dw(xv, dyv, s)) < tol);
    const Shape5 flip{s.N, s.Cout, s.H, s.W, s.C};
    CHECK(relative_error(r.dx.to_vector(), direct_forward(dyv, flipped(wv, s.Cout, s.C), flip)) < tol);
  }
}

TEST_CASE("the per-shape choice (tensor/winograd.h): F(4x4) on planes of 16x16 and more") {
  CHECK(kWinograd44MinSide == 16);
  for (int64_t hw : {32, 28, 16}) CHECK(winograd_tile(hw, hw) == 4);  // shapes-t2i, mnist-t2i
  for (int64_t hw : {14, 8, 7, 1}) CHECK(winograd_tile(hw, hw) == 2);
  CHECK(winograd_tile(16, 15) == 2);  // both sides count
  CHECK(winograd_tile(15, 16) == 2);
  CHECK(winograd_tile(16, 40) == 4);
  CHECK_THROWS_AS(winograd_conv3x3(nullptr, nullptr, 0, 16, 4, 4, 16, nullptr, 3), Error);
}

TEST_CASE("Winograd F(4x4): the same bits with 1 and 2 threads (forward); the chunks do not depend on them") {
  Generator g(46);
  const Shape5 s{9, 16, 14, 14, 16};
  const std::vector<float> x = random_vector(s.N * s.C * s.H * s.W, g),
                           w = random_vector(s.Cout * s.C * 9, g);
  const int before = num_threads();
  std::vector<float> y1(static_cast<size_t>(s.N * s.Cout * s.H * s.W)), y2(y1.size());
  set_num_threads(1);
  winograd_conv3x3(x.data(), w.data(), s.N, s.C, s.H, s.W, s.Cout, y1.data(), 4);
  set_num_threads(2);
  winograd_conv3x3(x.data(), w.data(), s.N, s.C, s.H, s.W, s.Cout, y2.data(), 4);
  set_num_threads(before);
  CHECK(y1 == y2);
}

TEST_CASE("Winograd's bias and residual: (output + bias) + residual bit for bit, at every SIMD level") {
  Generator g(47);
  // 9x10 = 90 pixels (11 blocks of 8 and 2 more), 19 output channels (2 blocks of 8 and 3 more)
  const Shape5 s{2, 16, 9, 10, 19};
  const int64_t P = s.H * s.W;
  const std::vector<float> x = random_vector(s.N * s.C * P, g), w = random_vector(s.Cout * s.C * 9, g),
                           bias = random_vector(s.Cout, g), res = random_vector(s.N * s.Cout * P, g);
  const SimdLevel saved = simd_level();
  for (SimdLevel level : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512})
    for (int tile : {2, 4}) {
      set_simd_level(level);
      INFO("tile ", tile, " SIMD ", std::string(simd_level_name(simd_level())));
      std::vector<float> plain(res.size()), fused(res.size());
      winograd_conv3x3(x.data(), w.data(), s.N, s.C, s.H, s.W, s.Cout, plain.data(), tile);
      winograd_conv3x3(x.data(), w.data(), s.N, s.C, s.H, s.W, s.Cout, fused.data(), tile, bias.data(),
                       res.data());
      std::vector<float> want(res.size());
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t o = 0; o < s.Cout; ++o)
          for (int64_t p = 0; p < P; ++p) {
            const size_t i = static_cast<size_t>((n * s.Cout + o) * P + p);
            want[i] = (plain[i] + bias[static_cast<size_t>(o)]) + res[i];
          }
      CHECK(fused == want);
    }
  set_simd_level(saved);
}
