// tensor/simd_dispatch.h: the loops it dispatches give the same numbers at every level
// (within float rounding: FMA and wider sums round differently), and the level can be capped.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tensor/attention.h"
#include "tensor/elementwise.h"
#include "tensor/norm.h"
#include "tensor/random.h"
#include "tensor/simd_dispatch.h"
#include "tensor/softmax.h"

using namespace ld;

namespace {

// Runs f at the baseline level and at the best one; the largest difference relative to max |value|.
template <class F>
double level_difference(F f) {
  const SimdLevel saved = simd_level();
  set_simd_level(SimdLevel::Baseline);
  std::vector<float> a = f().to_vector();
  set_simd_level(simd_level_supported());
  std::vector<float> b = f().to_vector();
  set_simd_level(saved);
  REQUIRE(a.size() == b.size());
  double scale = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(a[i])));
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return diff / std::max(scale, 1e-30);
}

}  // namespace

TEST_CASE("the level can be capped, never raised above what the CPU supports") {
  const SimdLevel saved = simd_level();
  MESSAGE("this CPU: ", simd_level_name(simd_level_supported()));
  set_simd_level(SimdLevel::Baseline);
  CHECK(simd_level() == SimdLevel::Baseline);
  set_simd_level(SimdLevel::Avx2);
  CHECK(simd_level() == std::min(SimdLevel::Avx2, simd_level_supported()));
  set_simd_level(SimdLevel::Avx512);
  CHECK(simd_level() == simd_level_supported());
  CHECK(std::string(simd_level_name(SimdLevel::Avx2)) == "avx2");
  CHECK(std::string(simd_level_name(SimdLevel::Avx512)) == "avx512");
  set_simd_level(saved);
}

TEST_CASE("the arithmetic-bound loops (simd_dispatch_compute) give the same bits at every level") {
  // attention's softmax sums each query's keys in order in its own lane and computes each exponential
  // alone; unary_span computes each element alone: neither depends on the vector width, and
  // unary_span has unary's bits. (On a CPU without AVX-512 the last level is capped to AVX2 and the
  // check holds trivially.)
  Generator g(12);
  const Tensor q = rand_normal({2, 70, 32}, g, 0, 2), k = rand_normal({2, 45, 32}, g, 0, 2),
               v = rand_normal({2, 45, 32}, g);
  const Tensor x = mul(rand_normal({1000}, g), Tensor::scalar(3.0f));
  const SimdLevel saved = simd_level();
  const Tensor xg = rand_normal({3, 16, 7, 9}, g, 0, 2), gamma = rand_normal({16}, g), beta = rand_normal({16}, g);
  std::vector<std::vector<float>> outs, lses, gelus, gns;
  for (SimdLevel l : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512}) {
    set_simd_level(l);
    const AttentionResult r = attention_forward(q, k, v, 4, Tensor());
    outs.push_back(r.out.to_vector());
    lses.push_back(r.lse.to_vector());
    std::vector<float> y(1000);
    unary_span(Unary::Gelu, y.data(), x.f32(), 1000);
    CHECK(y == unary(Unary::Gelu, x).to_vector());
    gelus.push_back(y);
    gns.push_back(group_norm_silu_forward(xg, 4, gamma, beta, 1e-5f).y.to_vector());
  }
  set_simd_level(saved);
  // AVX2 and AVX-512 (baseline has no FMA, so its exponentials may round differently)
  CHECK(outs[2] == outs[1]);
  CHECK(lses[2] == lses[1]);
  CHECK(gelus[2] == gelus[1]);
  CHECK(gns[2] == gns[1]);
}

TEST_CASE("every dispatched loop gives the same numbers at every level") {
  Generator g(11);
  Tensor x = rand_normal({4, 16, 9, 11}, g), dy = rand_normal({4, 16, 9, 11}, g);
  Tensor x3 = mul(x, Tensor::scalar(3.0f));  // wider range: the tails of exp and erf
  for (Unary op : {Unary::Exp, Unary::Sigmoid, Unary::Silu, Unary::Gelu, Unary::Tanh, Unary::Relu}) {
    CAPTURE(unary_name(op));
    CHECK(level_difference([&] { return unary(op, x3); }) < 1e-6);
    CHECK(level_difference([&] { return unary_backward(op, x3, unary(op, x3), dy); }) < 1e-6);
  }
  CHECK(level_difference([&] { return add(x, dy); }) == 0.0);
  CHECK(level_difference([&] { return softmax(x3, -1); }) < 1e-6);
  CHECK(level_difference([&] { return softmax_backward(softmax(x3, -1), dy, -1); }) < 1e-6);
  CHECK(level_difference([&] { return log_softmax(x3, 1); }) < 1e-6);
  Tensor gamma = rand_normal({16}, g), beta = rand_normal({16}, g), gl = rand_normal({11}, g),
         bl = rand_normal({11}, g);
  CHECK(level_difference([&] { return group_norm_forward(x, 4, gamma, beta, 1e-5f).y; }) < 1e-5);
  CHECK(level_difference([&] {
          return group_norm_backward(x, 4, gamma, group_norm_forward(x, 4, gamma, beta, 1e-5f), dy).dx;
        }) < 1e-5);
  CHECK(level_difference([&] { return layer_norm_forward(x, gl, bl, 1e-5f).y; }) < 1e-5);
  CHECK(level_difference(
            [&] { return layer_norm_backward(x, gl, layer_norm_forward(x, gl, bl, 1e-5f), dy).dx; }) < 1e-5);
}
