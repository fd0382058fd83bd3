// tensor/random.cpp: Philox4x32-10 and the draws built on it (uniform, normal by Box-Muller,
// integers, permutations), independent of the thread count.
#include "tensor/random.h"

#include <algorithm>
#include <cmath>

#include "tensor/parallel.h"
#include "tensor/simd_dispatch.h"

namespace ld {

__extension__ typedef unsigned __int128 u128;

// high 64 bits of x * n: maps a uniform 64-bit x to [0, n) (Lemire's multiply-shift)
static uint64_t mul_shift(uint64_t x, uint64_t n) {
  return static_cast<uint64_t>((static_cast<u128>(x) * n) >> 64);
}

// Philox4x32 with 10 rounds; constants from the paper (and Random123).
std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = static_cast<uint64_t>(M0) * c0, p1 = static_cast<uint64_t>(M1) * c2;
    uint32_t h0 = static_cast<uint32_t>(p0 >> 32), l0 = static_cast<uint32_t>(p0);
    uint32_t h1 = static_cast<uint32_t>(p1 >> 32), l1 = static_cast<uint32_t>(p1);
    c0 = h1 ^ c1 ^ k0;
    c1 = l1;
    c2 = h0 ^ c3 ^ k1;
    c3 = l0;
    k0 += W0;
    k1 += W1;
  }
  return {c0, c1, c2, c3};
}

uint32_t Generator::next_u32() { return philox4x32(seed_, take(1))[0]; }
float Generator::next_uniform() { return u32_to_uniform(next_u32()); }
int64_t Generator::next_int(int64_t n) {
  if (n <= 0) fail("random: next_int(", n, "): n must be positive");
  // Two words give 64 bits; the multiply-shift maps them to [0, n).
  auto w = philox4x32(seed_, take(1));
  uint64_t x = (static_cast<uint64_t>(w[0]) << 32) | w[1];
  return static_cast<int64_t>(mul_shift(x, static_cast<uint64_t>(n)));
}

namespace {

// The elements [begin, begin + n) of a whole draw of `total` elements that a tensor of a shard holds.
struct Span {
  int64_t begin, n, total;
};
Span span_of(int64_t n, const BatchShard& s) {
  if (s.whole()) return {0, n, n};
  if (s.count < 1 || s.first < 0 || s.first + s.count > s.total || n % s.count != 0)
    fail("random: a shard of samples [", s.first, ", ", s.first + s.count, ") of ", s.total,
         " does not fit a tensor of ", n, " elements");
  const int64_t per_sample = n / s.count;
  return {s.first * per_sample, n, s.total * per_sample};
}

// philox4x32 for kLanes consecutive counters at once: the same rounds on arrays, which the
// compiler turns into vector multiplies (32 x 32 -> 64 bits per lane), 16 blocks per call instead of
// one; arithmetic on registers, so it runs at AVX-512 where the CPU has it (simd_dispatch_compute:
// 2.3 ns per dropout element against 2.8 at AVX2, 2 threads). words[i][j] = philox4x32(key,
// counter + j)[i], to the bit, at every level.
constexpr int kLanes = 16;
inline void philox4x32_lanes(uint64_t key, uint64_t counter, uint32_t words[4][kLanes]) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    c0[j] = static_cast<uint32_t>(counter + j);
    c1[j] = static_cast<uint32_t>((counter + j) >> 32);
    c2[j] = c3[j] = 0;
  }
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      const uint64_t p0 = static_cast<uint64_t>(M0) * c0[j], p1 = static_cast<uint64_t>(M1) * c2[j];
      const uint32_t h0 = static_cast<uint32_t>(p0 >> 32), l0 = static_cast<uint32_t>(p0);
      const uint32_t h1 = static_cast<uint32_t>(p1 >> 32), l1 = static_cast<uint32_t>(p1);
      c0[j] = h1 ^ c1[j] ^ k0;
      c1[j] = l1;
      c2[j] = h0 ^ c3[j] ^ k1;
      c3[j] = l0;
    }
    k0 += W0;
    k1 += W1;
  }
  for (int j = 0; j < kLanes; ++j) {
    words[0][j] = c0[j];
    words[1][j] = c1[j];
    words[2][j] = c2[j];
    words[3][j] = c3[j];
  }
}

// Element g of a whole draw is word g % 4 of block base + g / 4, for any split of the draw. f(block
// words, out) turns one block's words into its four elements. Blocks go kLanes at a time, and a
// thread's share in tasks of kGroupsPerTask such groups, each one call into the vector code (a
// dispatch per group of 8 blocks cost a third of the time: 3.2 ns per dropout element, 2.3 now).
constexpr int64_t kGroupsPerTask = 64;
template <class F>
void fill_blocks(float* p, const Span& sp, uint64_t key, uint64_t base, F&& f) {
  const int64_t b0 = sp.begin / 4, b1 = (sp.begin + sp.n + 3) / 4, groups = (b1 - b0 + kLanes - 1) / kLanes;
  const int64_t tasks = (groups + kGroupsPerTask - 1) / kGroupsPerTask;
#pragma omp parallel for if (sp.n >= kParallelGrain) num_threads(num_threads())
  for (int64_t task = 0; task < tasks; ++task)
    simd_dispatch_compute([&] {
      const int64_t q1 = std::min(groups, (task + 1) * kGroupsPerTask);
      for (int64_t q = task * kGroupsPerTask; q < q1; ++q) {
        const int64_t first = b0 + q * kLanes;
        uint32_t w[4][kLanes];
        philox4x32_lanes(key, base + first, w);
        for (int64_t l = 0; l < kLanes && first + l < b1; ++l) {
          float v[4];
          f(std::array<uint32_t, 4>{w[0][l], w[1][l], w[2][l], w[3][l]}, v);
          const int64_t g = 4 * (first + l) - sp.begin;  // this block's first element in p
          if (g >= 0 && g + 4 <= sp.n)
            for (int j = 0; j < 4; ++j) p[g + j] = v[j];
          else  // the first or last block of a shard: only its elements inside the span
            for (int j = 0; j < 4; ++j)
              if (g + j >= 0 && g + j < sp.n) p[g + j] = v[j];
        }
      }
    });
}

}  // namespace

Tensor rand_uniform(const Shape& shape, Generator& gen, const BatchShard& shard) {
  Tensor t = Tensor::empty(shape);
  const Span sp = span_of(t.numel(), shard);
  const uint64_t key = gen.seed(), base = gen.take((sp.total + 3) / 4);
  fill_blocks(t.f32(), sp, key, base, [](const std::array<uint32_t, 4>& w, float* v) {
    for (int j = 0; j < 4; ++j) v[j] = u32_to_uniform(w[j]);
  });
  return t;
}

Tensor dropout_mask(const Shape& shape, float p, Generator& gen, const BatchShard& shard) {
  Tensor t = Tensor::empty(shape);
  const Span sp = span_of(t.numel(), shard);
  const uint64_t key = gen.seed(), base = gen.take((sp.total + 3) / 4);
  const float keep_scale = 1.0f / (1.0f - p);
  fill_blocks(t.f32(), sp, key, base, [=](const std::array<uint32_t, 4>& w, float* m) {
    for (int j = 0; j < 4; ++j) m[j] = u32_to_uniform(w[j]) >= p ? keep_scale : 0.0f;
  });
  return t;
}

Tensor rand_uniform(const Shape& shape, Generator& gen, float lo, float hi) {
  Tensor t = rand_uniform(shape, gen, BatchShard{});
  if (lo == 0.0f && hi == 1.0f) return t;
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * p[i];
  return t;
}

Tensor rand_normal(const Shape& shape, Generator& gen, const BatchShard& shard) {
  Tensor t = Tensor::empty(shape);
  const Span sp = span_of(t.numel(), shard);
  const uint64_t key = gen.seed(), base = gen.take((sp.total + 3) / 4);
  fill_blocks(t.f32(), sp, key, base, [](const std::array<uint32_t, 4>& w, float* z) {
    constexpr float kTwoPi = 6.283185307179586f;
    for (int pair = 0; pair < 2; ++pair) {
      // u1 in (0, 1] so log(u1) is finite
      float u1 = (static_cast<float>(w[2 * pair] >> 8) + 1.0f) * (1.0f / 16777216.0f);
      float u2 = u32_to_uniform(w[2 * pair + 1]);
      float r = std::sqrt(-2.0f * std::log(u1));
      z[2 * pair] = r * std::cos(kTwoPi * u2);
      z[2 * pair + 1] = r * std::sin(kTwoPi * u2);
    }
  });
  return t;
}

Tensor rand_normal(const Shape& shape, Generator& gen, float mean, float stddev) {
  Tensor t = rand_normal(shape, gen, BatchShard{});
  if (mean == 0.0f && stddev == 1.0f) return t;
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + stddev * p[i];
  return t;
}

Tensor rand_int(const Shape& shape, int64_t lo, int64_t hi, Generator& gen, const BatchShard& shard) {
  if (hi <= lo) fail("rand_int: empty range [", lo, ", ", hi, ")");
  Tensor t = Tensor::empty(shape, DType::I32);
  const Span sp = span_of(t.numel(), shard);
  const uint64_t key = gen.seed(), base = gen.take(sp.total);  // one block per element
  const uint64_t range = static_cast<uint64_t>(hi - lo);
  int32_t* p = t.i32();
  for (int64_t i = 0; i < sp.n; ++i) {
    auto w = philox4x32(key, base + sp.begin + i);
    uint64_t x = (static_cast<uint64_t>(w[0]) << 32) | w[1];
    p[i] = static_cast<int32_t>(lo + static_cast<int64_t>(mul_shift(x, range)));
  }
  return t;
}

Tensor rand_int(const Shape& shape, int64_t lo, int64_t hi, Generator& gen) {
  return rand_int(shape, lo, hi, gen, BatchShard{});
}

std::vector<int64_t> rand_permutation(int64_t n, Generator& gen) {
  std::vector<int64_t> perm(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[gen.next_int(i + 1)]);
  return perm;
}

}  // namespace ld
