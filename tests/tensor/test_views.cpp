// Views share storage; reshape/permute/narrow/expand give the right elements.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>

#include "tensor/index.h"
#include "tensor/random.h"
#include "tensor/reference.h"
#include "tensor/tensor.h"

using namespace ld;

static Tensor iota(const Shape& s) {
  std::vector<float> v(shape_numel(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, s);
}

TEST_CASE("reshape of contiguous data is a view sharing storage") {
  Tensor a = iota({2, 3});
  Tensor b = a.view({3, 2});
  CHECK(b.storage() == a.storage());
  b.f32()[0] = 42.0f;
  CHECK(a.at({0, 0}) == 42.0f);
  CHECK(a.view({-1}).shape() == Shape{6});
  CHECK_THROWS_WITH_AS(a.view({4, 2}), doctest::Contains("(2,3)"), Error);
}

TEST_CASE("permute and transpose change strides, not data") {
  Tensor a = iota({2, 3, 4});
  Tensor p = a.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.storage() == a.storage());
  CHECK_FALSE(p.is_contiguous());
  CHECK(p.at({3, 1, 2}) == a.at({1, 2, 3}));
  Tensor c = p.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.at({3, 1, 2}) == a.at({1, 2, 3}));
  CHECK(a.transpose(0, 2).at({1, 2, 0}) == a.at({0, 2, 1}));
  // a non-contiguous view cannot be viewed, but can be reshaped (copy)
  CHECK_THROWS_AS(p.view({24}), Error);
  CHECK(p.reshape({24}).at({1}) == a.at({0, 1, 0}));
}

TEST_CASE("narrow and select are offset views") {
  Tensor a = iota({4, 5});
  Tensor n = a.narrow(1, 2, 2);
  CHECK(n.shape() == Shape{4, 2});
  CHECK(n.at({3, 1}) == a.at({3, 3}));
  CHECK(a.select(0, 2).at({4}) == a.at({2, 4}));
  CHECK_THROWS_WITH_AS(a.narrow(1, 4, 2), doctest::Contains("out of range"), Error);
}

TEST_CASE("expand broadcasts with stride 0 and copy_ broadcasts") {
  Tensor row = iota({1, 3});
  Tensor e = row.expand({4, 3});
  CHECK(e.strides()[0] == 0);
  CHECK(e.at({3, 2}) == 2.0f);
  CHECK_THROWS_AS(row.expand({4, 2}), Error);
  Tensor dst = Tensor::zeros({2, 3});
  dst.copy_(iota({3}));
  CHECK(dst.to_vector() == std::vector<float>{0, 1, 2, 0, 1, 2});
  Tensor u = row.unsqueeze(0);
  CHECK(u.shape() == Shape{1, 1, 3});
  CHECK(u.squeeze(0).shape() == Shape{1, 3});
}

TEST_CASE("int tensors and conversions") {
  Tensor t = Tensor::from_ints({1, 2, 3}, {3});
  CHECK(t.dtype() == DType::I32);
  CHECK(t.to(DType::F32).to_vector() == std::vector<float>{1, 2, 3});
  CHECK_THROWS_WITH_AS(t.f32(), doctest::Contains("i32"), Error);
  CHECK_THROWS_AS(Tensor::from_vector({1, 2}, {3}), Error);
  CHECK_THROWS_AS(Tensor::zeros({2}).to(Device::CUDA), Error);
}

TEST_CASE("storage is 64-byte aligned, and a freed large block is reused for the next of its size") {
  for (int64_t n : {1, 3, 17, 1000, 1 << 20}) {
    Tensor t = Tensor::empty({n});
    CHECK(reinterpret_cast<uintptr_t>(t.f32()) % 64 == 0);
  }
  // 38.5 MB, an activation of the mnist-t2i decoder at batch 128, made as a concat and its copy
  // from two live inputs: freed, the next ones of that size get the same memory back. (With
  // aligned_alloc, glibc took fresh memory from the top of the heap for each, in some heap states:
  // a standalone program doing exactly this paid 40-60 ms of page faults per block instead of
  // 4 ms of copying; tensor/tensor.cpp.)
  const size_t nbytes = size_t{128} * 96 * 28 * 28 * 4;
  Generator gen(1);
  Tensor in1 = rand_normal({128, 64, 28, 28}, gen), in2 = rand_normal({128, 32, 28, 28}, gen);
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < 6; ++i) {
    Tensor a = concat({in1, in2}, 1), b = a.clone();
    for (const Tensor* t : {&a, &b}) {
      lo = std::min(lo, reinterpret_cast<uintptr_t>(t->f32()));
      hi = std::max(hi, reinterpret_cast<uintptr_t>(t->f32()));
    }
  }
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's allocator holds freed blocks back (its quarantine, to catch use after free),
  // so nothing is reused there by design: only the alignment is checked
  (void)nbytes, (void)lo, (void)hi;
#else
  CHECK(hi - lo < 2 * nbytes);  // two blocks' worth of addresses in all, not twelve
#endif
}

// strided_copy (tensor/copy.cpp) copies a tensor whose last two axes are swapped against dst's
// (permute(...).contiguous() between planes (B, C, N) and token rows (B, N, C)) as 8 x 8 register
// transposes; every element must land where the plain loop puts it, for sizes on and off multiples
// of 8, a source wider than its block (narrow), a destination that is itself a strided view, leading
// axes in any order, and layouts the path must leave to the loop (fewer than 8 rows, I32).
TEST_CASE("contiguous() of a tensor with its last two axes swapped: every element where it belongs") {
  Generator g(3);
  auto check_same = [](const Tensor& got, const Tensor& src) {
    REQUIRE(got.shape() == src.shape());
    const std::vector<float> a = got.to_vector();
    // the definition, element by element through at()
    const Shape s = src.shape();
    std::vector<int64_t> idx(s.size(), 0);
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] != src.at(idx)) {
        FAIL_CHECK("element ", i, " differs");
        return;
      }
      for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d)
        if (++idx[static_cast<size_t>(d)] < s[static_cast<size_t>(d)])
          break;
        else
          idx[static_cast<size_t>(d)] = 0;
    }
  };
  for (int64_t C : {3, 8, 9, 64, 128})
    for (int64_t N : {7, 8, 49, 196}) {
      INFO("C ", C, " N ", N);
      const Tensor x = rand_normal({3, C, N}, g);
      check_same(x.permute({0, 2, 1}).contiguous(), x.permute({0, 2, 1}));  // planes -> tokens
      const Tensor t = x.permute({0, 2, 1}).contiguous();
      check_same(t.permute({0, 2, 1}).contiguous(), x);  // and back
      // a source wider than the block: a narrowed tensor, read through its strides
      const Tensor wide = rand_normal({3, C + 5, N + 3}, g).narrow(1, 2, C).narrow(2, 1, N);
      check_same(wide.permute({0, 2, 1}).contiguous(), wide.permute({0, 2, 1}));
    }
  // four axes, the leading ones permuted too
  const Tensor y = rand_normal({2, 5, 24, 17}, g);
  check_same(y.permute({1, 0, 3, 2}).contiguous(), y.permute({1, 0, 3, 2}));
  // a destination that is a strided view: copy_ into a narrowed block of a wider tensor
  Tensor big = Tensor::zeros({2, 30, 40});
  Tensor dst = big.narrow(1, 3, 20).narrow(2, 5, 16);
  const Tensor z = rand_normal({2, 16, 20}, g);
  dst.copy_(z.permute({0, 2, 1}));
  check_same(dst, z.permute({0, 2, 1}));
  CHECK(big.at({0, 2, 5}) == 0.0f);  // around the block: untouched
  CHECK(big.at({1, 3, 4}) == 0.0f);
  CHECK(big.at({1, 23, 10}) == 0.0f);
  // the same bits as the reference kernels' plain loop
  const Tensor w = rand_normal({4, 64, 196}, g);
  const std::vector<float> fast = w.permute({0, 2, 1}).contiguous().to_vector();
  set_kernels(Kernels::Reference);
  const std::vector<float> plain = w.permute({0, 2, 1}).contiguous().to_vector();
  set_kernels(Kernels::Fast);
  CHECK(fast == plain);
  // I32 stays on the loop and is right too
  std::vector<int32_t> iv(2 * 9 * 10);
  for (size_t i = 0; i < iv.size(); ++i) iv[i] = static_cast<int32_t>(i);
  const Tensor ints = Tensor::from_ints(iv, {2, 9, 10});
  const Tensor ti = ints.permute({0, 2, 1}).contiguous();
  CHECK(ti.i32()[1] == 10);         // [0, 0, 1] of the permuted = [0, 1, 0] of ints
  CHECK(ti.i32()[9 * 1 + 0] == 1);  // [0, 1, 0] of the permuted = [0, 0, 1] of ints
}
