// Convolutions that map their own input while sampling (tensor/winograd.h InputMap): one that
// normalises it (tensor/conv.h conv2d_forward_silu_in, ag::group_norm_silu_conv2d,
// nn::GroupNorm::forward_silu_conv: conv(silu(GroupNorm(x))), the normalised tensor never stored) and
// one that upsamples it (conv2d_forward_upsampled_in, ag::upsample_nearest2x_conv2d). Each must have
// the very bits of the two ops one after the other, on Winograd's path (where the map runs inside the
// input transform) and on every other one (where it is a pass of its own), at every SIMD level and
// thread count, and go op by op when a backward will follow or the conv was replaced.
#include <doctest/doctest.h>

#include <string>

#include "autograd/ops.h"
#include "nn/conv2d.h"
#include "nn/group_norm.h"
#include "nn/low_rank_conv2d.h"
#include "tensor/conv.h"
#include "tensor/index.h"
#include "tensor/norm.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/simd_dispatch.h"
#include "tensor/winograd.h"

using namespace ld;
using ld::ag::Var;

namespace {

struct Case {
  int64_t N, C, H, W, Cout, k, stride, pad, groups;
};
// Winograd F(4x4) (28x28) and F(2x2) (14x14, 7x7, channel counts not a multiple of 8), a 1x1
// convolution, a stride-2 one and a 3x3 one with 8 input channels (these three not Winograd: the
// mapped input is a tensor of its own there)
const Case kCases[] = {{3, 32, 28, 28, 32, 3, 1, 1, 8}, {2, 64, 14, 14, 64, 3, 1, 1, 8},
                       {3, 70, 7, 7, 66, 3, 1, 1, 5},   {2, 64, 14, 14, 64, 1, 1, 0, 8},
                       {2, 32, 14, 14, 32, 3, 2, 1, 8}, {2, 8, 9, 9, 16, 3, 1, 1, 4}};

}  // namespace

TEST_CASE("conv2d_forward_silu_in has the bits of conv2d_forward(group_norm_silu_forward(x)) on every path") {
  Generator gen(7);
  const SimdLevel saved_level = simd_level();
  const int saved_threads = num_threads();
  for (const Case& c : kCases) {
    const Tensor x = rand_normal({c.N, c.C, c.H, c.W}, gen, 0.3f, 2);
    const Tensor gamma = rand_normal({c.C}, gen, 1, 0.3f), beta = rand_normal({c.C}, gen, 0, 0.5f);
    const Tensor w = rand_normal({c.Cout, c.C, c.k, c.k}, gen, 0, 0.1f), b = rand_normal({c.Cout}, gen, 0, 1);
    const int64_t Ho = (c.H + 2 * c.pad - c.k) / c.stride + 1;
    const Tensor r = rand_normal({c.N, c.Cout, Ho, Ho}, gen, 0, 1);
    for (SimdLevel level : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512})
      for (int threads : {1, 2}) {
        set_simd_level(level);  // capped at what this CPU has
        set_num_threads(threads);
        INFO("N ", c.N, " C ", c.C, " ", c.H, "x", c.W, " -> ", c.Cout, " k ", c.k, " stride ", c.stride,
             " SIMD ", std::string(simd_level_name(simd_level())), " threads ", threads);
        const Tensor z = group_norm_silu_forward(x, c.groups, gamma, beta, 1e-5f).y;
        const ChannelAffine in = group_norm_affine(x, c.groups, gamma, beta, 1e-5f);
        REQUIRE(in.scale.shape() == Shape{c.N, c.C});
        // the map alone: group_norm_silu's output
        Tensor mapped = Tensor::empty(x.shape());
        const int64_t P = c.H * c.W;
        for (int64_t n = 0; n < c.N; ++n)
          affine_silu_planes(x.f32() + n * c.C * P, c.C, P, in.scale.f32() + n * c.C,
                             in.shift.f32() + n * c.C, mapped.f32() + n * c.C * P);
        CHECK(mapped.to_vector() == z.to_vector());
        // the convolution of it, with a bias and without, with a residual and without
        CHECK(conv2d_forward_silu_in(x, in, w, b, c.stride, c.pad, r).to_vector() ==
              conv2d_forward(z, w, b, c.stride, c.pad, r).to_vector());
        CHECK(conv2d_forward_silu_in(x, in, w, Tensor(), c.stride, c.pad).to_vector() ==
              conv2d_forward(z, w, Tensor(), c.stride, c.pad).to_vector());
      }
  }
  set_simd_level(saved_level);
  set_num_threads(saved_threads);
}

TEST_CASE("conv2d_forward_silu_in refuses an input map of the wrong shape") {
  Generator gen(8);
  const Tensor x = rand_normal({2, 16, 8, 8}, gen, 0, 1), w = rand_normal({16, 16, 3, 3}, gen, 0, 0.1f);
  const ChannelAffine wrong{Tensor::ones({2, 15}), Tensor::zeros({2, 15})};
  CHECK_THROWS_WITH_AS(conv2d_forward_silu_in(x, wrong, w, Tensor(), 1, 1), doctest::Contains("(2, 16)"),
                       Error);
  const ChannelAffine per_channel{Tensor::ones({16}), Tensor::zeros({16})};
  CHECK_THROWS_WITH_AS(conv2d_forward_silu_in(x, per_channel, w, Tensor(), 1, 1),
                       doctest::Contains("one per sample and channel"), Error);
}

TEST_CASE(
    "GroupNorm::forward_silu_conv: one op while sampling, the two ops with a backward or a replaced conv") {
  Generator gen(9);
  nn::GroupNorm norm(8, 32);
  norm.weight.set_value(rand_normal({32}, gen, 1, 0.3f));
  norm.bias.set_value(rand_normal({32}, gen, 0, 0.3f));
  nn::Conv2d conv(32, 48, 3, 1, 1, true, gen);
  const Tensor xv = rand_normal({3, 32, 14, 14}, gen, 0, 1), rv = rand_normal({3, 48, 14, 14}, gen, 0, 1);
  const Var x(xv.clone(), true), r(rv.clone(), true);
  const Var recorded = norm.forward_silu_conv(conv, x, r);
  CHECK(std::string(recorded.op()) == "conv2d");
  recorded.backward(Tensor::ones(recorded.shape()));
  CHECK(x.grad().defined());
  CHECK(norm.weight.grad().defined());
  CHECK(conv.weight.grad().defined());
  {
    ag::NoGrad no_grad;
    const Var fused = norm.forward_silu_conv(conv, Var(xv), Var(rv));
    CHECK(std::string(fused.op()) == "group_norm_silu_conv2d");
    CHECK(fused.value().to_vector() == recorded.value().to_vector());
    CHECK(norm.forward_silu_conv(conv, Var(xv)).value().to_vector() ==
          conv.forward(norm.forward_silu(Var(xv))).value().to_vector());  // without a residual
    CHECK_THROWS_WITH_AS(norm.forward_silu_conv(conv, Var(Tensor::zeros({1, 16, 4, 4}))),
                         doctest::Contains("must be (N, 32, H, W)"), Error);
    // a replaced conv: its own forward on silu(norm(x))
    nn::LowRankConv2d low(32, 48, 3, 1, 1, 4, true, gen);
    const Var y = norm.forward_silu_conv(low, Var(xv), Var(rv));
    CHECK(y.value().to_vector() == low.forward_add(norm.forward_silu(Var(xv)), Var(rv)).value().to_vector());
  }
}

TEST_CASE("conv2d_forward_upsampled_in has the bits of conv2d_forward(upsample_nearest2x(x)) on every path") {
  Generator gen(10);
  const SimdLevel saved_level = simd_level();
  const int saved_threads = num_threads();
  // (N, C, h, w) upsampled to 2h x 2w: Winograd F(4x4) at 28x28, F(2x2) at 14x14 and at 10x8 with 70 -> 66
  // channels; 8 channels in (im2col), and a stride-2 convolution (im2col)
  const Case cases[] = {{2, 32, 14, 14, 32, 3, 1, 1, 1},
                        {3, 64, 7, 7, 64, 3, 1, 1, 1},
                        {2, 70, 5, 4, 66, 3, 1, 1, 1},
                        {2, 8, 6, 6, 16, 3, 1, 1, 1},
                        {2, 32, 7, 7, 32, 3, 2, 1, 1}};
  for (const Case& c : cases) {
    const Tensor x = rand_normal({c.N, c.C, c.H, c.W}, gen, 0, 1);
    const Tensor w = rand_normal({c.Cout, c.C, c.k, c.k}, gen, 0, 0.1f), b = rand_normal({c.Cout}, gen, 0, 1);
    const Tensor up = upsample_nearest2x(x);
    const int64_t Ho = (2 * c.H + 2 * c.pad - c.k) / c.stride + 1,
                  Wo = (2 * c.W + 2 * c.pad - c.k) / c.stride + 1;
    const Tensor r = rand_normal({c.N, c.Cout, Ho, Wo}, gen, 0, 1);
    for (SimdLevel level : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512})
      for (int threads : {1, 2}) {
        set_simd_level(level);
        set_num_threads(threads);
        INFO("N ", c.N, " C ", c.C, " ", c.H, "x", c.W, " upsampled -> ", c.Cout, " stride ", c.stride,
             " SIMD ", std::string(simd_level_name(simd_level())), " threads ", threads);
        CHECK(conv2d_forward_upsampled_in(x, w, b, c.stride, c.pad, r).to_vector() ==
              conv2d_forward(up, w, b, c.stride, c.pad, r).to_vector());
        CHECK(conv2d_forward_upsampled_in(x, w, Tensor(), c.stride, c.pad).to_vector() ==
              conv2d_forward(up, w, Tensor(), c.stride, c.pad).to_vector());
      }
  }
  set_simd_level(saved_level);
  set_num_threads(saved_threads);
  const Tensor x = rand_normal({2, 16, 4, 4}, gen, 0, 1);
  CHECK_THROWS_WITH_AS(conv2d_forward_upsampled_in(x, rand_normal({16, 15, 3, 3}, gen, 0, 1), Tensor(), 1, 1),
                       doctest::Contains("expects 15"), Error);
  CHECK_THROWS_WITH_AS(conv2d_forward_upsampled_in(x, rand_normal({16, 16, 3, 3}, gen, 0, 1), Tensor(), 1, 1,
                                                   Tensor::zeros({2, 16, 4, 4})),
                       doctest::Contains("residual"), Error);
}

TEST_CASE("upsample_nearest2x_conv2d: one op while sampling, the two ops with a backward to come") {
  Generator gen(11);
  nn::Conv2d conv(32, 32, 3, 1, 1, true, gen);
  const Tensor xv = rand_normal({2, 32, 7, 7}, gen, 0, 1);
  const Var x(xv.clone(), true);
  const Var recorded = ag::upsample_nearest2x_conv2d(x, conv.weight, conv.bias, 1, 1);
  CHECK(std::string(recorded.op()) == "conv2d");
  recorded.backward(Tensor::ones(recorded.shape()));
  CHECK(x.grad().defined());
  CHECK(conv.weight.grad().defined());
  ag::NoGrad no_grad;
  const Var fused = ag::upsample_nearest2x_conv2d(Var(xv), conv.weight, conv.bias, 1, 1);
  CHECK(std::string(fused.op()) == "upsample_nearest2x_conv2d");
  CHECK(fused.shape() == Shape{2, 32, 14, 14});
  CHECK(fused.value().to_vector() == recorded.value().to_vector());
}

TEST_CASE("an empty batch through both input maps: empty outputs") {
  Generator gen(12);
  const Tensor w = rand_normal({16, 32, 3, 3}, gen, 0, 0.1f);
  const Tensor x = Tensor::zeros({0, 32, 8, 8});
  const ChannelAffine in = group_norm_affine(x, 8, Tensor::ones({32}), Tensor::zeros({32}), 1e-5f);
  CHECK(in.scale.shape() == Shape{0, 32});
  CHECK(conv2d_forward_silu_in(x, in, w, Tensor(), 1, 1).shape() == Shape{0, 16, 8, 8});
  CHECK(conv2d_forward_upsampled_in(Tensor::zeros({0, 32, 4, 4}), w, Tensor(), 1, 1).shape() ==
        Shape{0, 16, 8, 8});
}
