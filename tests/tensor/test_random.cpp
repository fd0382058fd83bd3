// Philox generator: reproducible, independent of thread count, right moments.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <vector>

#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/simd_dispatch.h"

using namespace ld;

TEST_CASE("Philox4x32-10 matches the Random123 known-answer test") {
  // Random123 kat_vectors: philox4x32 10 rounds, counter 0, key 0
  auto w = philox4x32(0, 0);
  CHECK(w[0] == 0x6627e8d5u);
  CHECK(w[1] == 0xe169c58du);
  CHECK(w[2] == 0xbc57ac4cu);
  CHECK(w[3] == 0x9b00dbd8u);
}

TEST_CASE(
    "tensor draws are the scalar Philox words, 16 blocks at a time included (any size, offset, SIMD level)") {
  // fill_blocks computes 16 counters per call (philox4x32_lanes), 64 such groups per task; every
  // element must be word g % 4 of block base + g / 4 of the scalar generator, also across the 2^32
  // carry of the counter, for sizes that end inside a group or a task, and at every SIMD level
  const SimdLevel old = simd_level();
  for (SimdLevel level : {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512}) {
    set_simd_level(level);  // capped at what this CPU has
    for (uint64_t offset : {uint64_t{0}, uint64_t{5}, (uint64_t{1} << 32) - 3}) {
      for (int64_t n : {1, 3, 31, 33, 63, 65, 4096 + 7, 3 * 4096 + 5}) {
        Generator gen(0);
        gen.set_state(0x1234567890abcdefULL, offset);
        const auto u = rand_uniform({n}, gen).to_vector();
        CHECK(gen.offset() == offset + static_cast<uint64_t>((n + 3) / 4));
        for (int64_t g = 0; g < n; ++g) {
          const uint32_t w = philox4x32(0x1234567890abcdefULL, offset + static_cast<uint64_t>(g / 4))[g % 4];
          REQUIRE_MESSAGE(u[g] == u32_to_uniform(w), "offset ", offset, " n ", n, " element ", g);
        }
      }
    }
  }
  set_simd_level(old);
}

TEST_CASE("dropout_mask is 1/(1-p) exactly where rand_uniform's draw is >= p, and advances the same") {
  Generator a(9), b(9);
  const auto u = rand_uniform({3, 5, 7}, a).to_vector();
  const auto m = dropout_mask({3, 5, 7}, 0.25f, b).to_vector();
  CHECK(a.offset() == b.offset());
  int dropped = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    CHECK(m[i] == (u[i] >= 0.25f ? 1.0f / 0.75f : 0.0f));
    dropped += m[i] == 0.0f;
  }
  CHECK(dropped > 10);
  CHECK(dropped < 45);
  // a shard's mask is its part of the whole batch's mask
  Generator c(9), d(9);
  const auto whole = dropout_mask({4, 6}, 0.5f, c).to_vector();
  const auto part = dropout_mask({2, 6}, 0.5f, d, BatchShard{4, 1, 2}).to_vector();
  CHECK(std::vector<float>(whole.begin() + 6, whole.begin() + 18) == part);
  CHECK(c.offset() == d.offset());
}

TEST_CASE("same seed, same numbers; the state can be saved and restored") {
  Generator a(42), b(42);
  CHECK(rand_normal({100}, a).to_vector() == rand_normal({100}, b).to_vector());
  Generator c(42);
  rand_uniform({10}, c);
  uint64_t off = c.offset();
  auto next = rand_uniform({5}, c).to_vector();
  Generator d(0);
  d.set_state(42, off);
  CHECK(rand_uniform({5}, d).to_vector() == next);
}

TEST_CASE("numbers do not depend on the thread count") {
  int before = num_threads();
  set_num_threads(1);
  Generator a(7);
  auto one = rand_normal({100000}, a).to_vector();
  set_num_threads(2);
  Generator b(7);
  auto two = rand_normal({100000}, b).to_vector();
  set_num_threads(before);
  CHECK(one == two);
}

TEST_CASE("normal has mean 0 and variance 1; uniform in range") {
  Generator g(9);
  auto v = rand_normal({200000}, g).to_vector();
  double m = 0, s2 = 0;
  for (float x : v) m += x;
  m /= v.size();
  for (float x : v) s2 += (x - m) * (x - m);
  s2 /= v.size();
  CHECK(std::fabs(m) < 0.01);
  CHECK(std::fabs(s2 - 1.0) < 0.02);
  auto u = rand_uniform({1000}, g, -2.0f, 3.0f).to_vector();
  for (float x : u) CHECK((x >= -2.0f && x < 3.0f));
  auto ints = rand_int({1000}, 0, 10, g).to_ints();
  std::set<int> seen(ints.begin(), ints.end());
  CHECK(seen.size() == 10);
  CHECK(*seen.begin() == 0);
  CHECK(*seen.rbegin() == 9);
  auto perm = rand_permutation(50, g);
  std::set<int64_t> ps(perm.begin(), perm.end());
  CHECK(ps.size() == 50);
}

// Data-parallel training (docs/distributed.md): N processes each draw their shard of a batch and
// together must hold exactly the one-process draw, with the generator left where one process leaves it.
TEST_CASE("a batch's draws split over shards are exactly the whole draw") {
  for (int64_t total : {1, 5, 7, 64}) {
    for (int ranks : {1, 2, 3, 4}) {
      if (ranks > total) continue;
      const Shape whole_shape{total, 3, 5};  // 15 numbers per sample: shard edges fall inside Philox blocks
      Generator g_whole(99);
      const Tensor u = rand_uniform(whole_shape, g_whole);
      const Tensor z = rand_normal(whole_shape, g_whole);
      const Tensor k = rand_int({total}, 0, 1000, g_whole);
      for (int r = 0; r < ranks; ++r) {
        CAPTURE(total);
        CAPTURE(ranks);
        CAPTURE(r);
        const BatchShard sh = shard_of(total, r, ranks);
        Generator g(99);
        const Tensor us = rand_uniform({sh.count, 3, 5}, g, sh);
        const Tensor zs = rand_normal({sh.count * 3, 5}, g, sh);  // any layout with the samples outermost
        const Tensor ks = rand_int({sh.count}, 0, 1000, g, sh);
        CHECK(g.offset() == g_whole.offset());
        for (int64_t i = 0; i < us.numel(); ++i) {
          REQUIRE(us.f32()[i] == u.f32()[sh.first * 15 + i]);
          REQUIRE(zs.f32()[i] == z.f32()[sh.first * 15 + i]);
        }
        for (int64_t i = 0; i < sh.count; ++i) REQUIRE(ks.i32()[i] == k.i32()[sh.first + i]);
      }
    }
  }
}

TEST_CASE("shard_of splits a batch into consecutive, nearly equal parts; a bad shard is refused") {
  CHECK(shard_of(64, 0, 3).first == 0);
  CHECK(shard_of(64, 0, 3).count == 21);
  CHECK(shard_of(64, 1, 3).first == 21);
  CHECK(shard_of(64, 1, 3).count == 21);
  CHECK(shard_of(64, 2, 3).first == 42);
  CHECK(shard_of(64, 2, 3).count == 22);
  Generator g(1);
  CHECK_THROWS_WITH(rand_uniform({4, 3}, g, BatchShard{8, 6, 4}),
                    doctest::Contains("does not fit a tensor of 12 elements"));
}
