// Element-wise ops: values, NumPy broadcasting, non-contiguous operands, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tensor/elementwise.h"
#include "tensor/random.h"
#include "tensor/strided_loop.h"

using namespace ld;

TEST_CASE("binary ops broadcast like NumPy") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({10, 20, 30}, {3});
  CHECK(add(a, b).to_vector() == std::vector<float>{11, 22, 33, 14, 25, 36});
  Tensor col = Tensor::from_vector({1, 2}, {2, 1});
  CHECK(mul(a, col).to_vector() == std::vector<float>{1, 2, 3, 8, 10, 12});
  CHECK(sub(col, b).shape() == Shape{2, 3});
  CHECK(div(a, Tensor::scalar(2)).to_vector()[5] == doctest::Approx(3.0));
  CHECK(binary(Binary::Max, a, Tensor::scalar(3.5f)).to_vector() == std::vector<float>{3.5, 3.5, 3.5, 4, 5, 6});
}

TEST_CASE("broadcast error names the op and both shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 3});
  CHECK_THROWS_WITH_AS(add(a, b), "add: shapes (2,3) and (4,3) cannot be broadcast (axis 0: 2 vs 4)", Error);
}

TEST_CASE("non-contiguous operands give the same result as contiguous copies") {
  Generator g(3);
  Tensor a = rand_normal({5, 7}, g).transpose(0, 1);
  Tensor b = rand_normal({7, 5}, g);
  Tensor r1 = mul(a, b), r2 = mul(a.contiguous(), b);
  CHECK(r1.to_vector() == r2.to_vector());
}

TEST_CASE("unary functions") {
  Tensor x = Tensor::from_vector({-1.0f, 0.0f, 2.0f}, {3});
  auto relu = unary(Unary::Relu, x).to_vector();
  CHECK(relu == std::vector<float>{0, 0, 2});
  auto silu = unary(Unary::Silu, x).to_vector();
  CHECK(silu[2] == doctest::Approx(2.0 / (1.0 + std::exp(-2.0))));
  auto gelu = unary(Unary::Gelu, x).to_vector();
  CHECK(gelu[0] == doctest::Approx(-0.15865525393).epsilon(1e-5));  // x * Phi(x) at -1
  CHECK(pow_scalar(Tensor::from_vector({2, 3}, {2}), 2.0f).to_vector() == std::vector<float>{4, 9});
}

TEST_CASE("large ops are threaded and give the same numbers as small ones") {
  Generator g(5);
  Tensor a = rand_normal({300, 300}, g), b = rand_normal({300}, g);
  Tensor r = add(a, b);
  auto va = a.to_vector(), vb = b.to_vector(), vr = r.to_vector();
  for (int i = 0; i < 300 * 300; i += 997) CHECK(vr[i] == va[i] + vb[i % 300]);
}

TEST_CASE("a long contiguous row is cut into pieces: every element once, same numbers as one thread") {
  // A contiguous tensor coalesces into one row; for_each_row cuts it so that both threads work.
  for (int64_t rows : {1, 3}) {
    const int64_t n = 100003;  // odd: pieces of unequal length
    std::vector<int> visits(static_cast<size_t>(rows * n), 0);
    StridedLoop<1> L = make_strided_loop<1>({rows, n}, {Strides{n, 1}});
    int64_t calls = 0;
    for_each_row<1>(L, [&](std::array<int64_t, 1> off, int64_t len, std::array<int64_t, 1> st) {
      for (int64_t i = 0; i < len; ++i) ++visits[static_cast<size_t>(off[0] + i * st[0])];
#pragma omp atomic
      ++calls;
    });
    CHECK(std::count(visits.begin(), visits.end(), 1) == rows * n);
    CHECK(calls > 1);  // cut (one piece per row would be `rows` calls, and only 1 thread for rows = 1)
  }
  Generator g(6);
  Tensor x = rand_normal({64, 32, 28, 28}, g);
  Tensor y = unary(Unary::Gelu, x);
  const int saved = num_threads();
  set_num_threads(1);
  Tensor y1 = unary(Unary::Gelu, x);
  set_num_threads(saved);
  CHECK(y.to_vector() == y1.to_vector());
}

TEST_CASE("axpy_ and non-finite detection") {
  Tensor d = Tensor::ones({2, 2});
  axpy_(d, 2.0f, Tensor::from_vector({1, 2}, {2}));
  CHECK(d.to_vector() == std::vector<float>{3, 5, 3, 5});
  CHECK_FALSE(has_non_finite(d));
  d.f32()[1] = NAN;
  CHECK(has_non_finite(d));
}
