// matmul through BLAS against a naive triple loop: 2-D, transposed views, batched, broadcast.
#include <doctest/doctest.h>

#include "tensor/matmul.h"
#include "tensor/random.h"

using namespace ld;

static std::vector<float> naive(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  std::vector<float> c(M * N, 0.0f);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) c[i * N + j] += a.at({i, k}) * b.at({k, j});
  return c;
}

static void check_close(const std::vector<float>& x, const std::vector<float>& y) {
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) CHECK(x[i] == doctest::Approx(y[i]).epsilon(1e-4));
}

TEST_CASE("2-D matmul, with transposed and sliced operands") {
  Generator g(2);
  Tensor a = rand_normal({5, 7}, g), b = rand_normal({7, 3}, g);
  check_close(matmul(a, b).to_vector(), naive(a, b));
  Tensor at = rand_normal({7, 5}, g).transpose(0, 1);  // BLAS reads it with a transpose flag
  Tensor bt = rand_normal({3, 7}, g).transpose(0, 1);
  check_close(matmul(at, bt).to_vector(), naive(at, bt));
  Tensor as = rand_normal({5, 10}, g).narrow(1, 2, 7);  // leading dimension 10
  check_close(matmul(as, b).to_vector(), naive(as, b));
  Tensor weird = rand_normal({7, 2, 5}, g).select(1, 1).transpose(0, 1);  // strides (1, 10): transposed
  check_close(matmul(weird, b).to_vector(), naive(weird, b));
}

TEST_CASE("batched matmul with broadcast batch axes") {
  Generator g(4);
  Tensor a = rand_normal({2, 3, 4, 5}, g), b = rand_normal({5, 6}, g);
  Tensor c = matmul(a, b);
  CHECK(c.shape() == Shape{2, 3, 4, 6});
  check_close(c.select(0, 1).select(0, 2).contiguous().to_vector(), naive(a.select(0, 1).select(0, 2), b));
  Tensor bb = rand_normal({3, 5, 2}, g);
  Tensor c2 = matmul(a, bb);
  CHECK(c2.shape() == Shape{2, 3, 4, 2});
  check_close(c2.select(0, 0).select(0, 1).contiguous().to_vector(),
              naive(a.select(0, 0).select(0, 1), bb.select(0, 1)));
}

TEST_CASE("matmul shape errors name both shapes") {
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})),
                       "matmul: (2,3) @ (4,5): inner dimensions 3 and 4 differ", Error);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({3}), Tensor::zeros({3, 2})), doctest::Contains("at least 2 axes"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 2})),
                       doctest::Contains("cannot be broadcast"), Error);
}
