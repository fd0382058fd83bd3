// tensor/random.h: seeded random numbers from one documented generator.
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011; the generator of cuRAND and JAX). It is counter-based: block number c
// under key k gives four 32-bit words, philox(k, c). A Generator holds (seed,
// offset); a request for n numbers uses blocks offset .. offset + ceil(n/4) - 1
// and advances offset. Element i depends only on (seed, offset, i), so results are
// identical for any thread count and can be reproduced on a GPU.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace ld {

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter);

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }  // blocks used so far: the whole state with seed
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserve `blocks` counter blocks; returns the first.
  uint64_t take(uint64_t blocks) {
    uint64_t c = offset_;
    offset_ += blocks;
    return c;
  }
  // Single draws (one block each), for scalar decisions such as shuffles.
  uint32_t next_u32();
  float next_uniform();         // [0, 1)
  int64_t next_int(int64_t n);  // [0, n)

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// Data-parallel training (docs/distributed.md): a process computes the samples [first, first + count)
// of a batch of `total` samples. A draw for its part of a batch-shaped tensor (the sample index
// outermost, any layout inside: (B, C, H, W), (B, T, D) or (B*T, D)) returns exactly the numbers the
// whole batch's draw holds there and advances the generator as the whole draw does, so N processes
// together see the numbers of one. The default (total = 0) is the whole batch.
struct BatchShard {
  int64_t total = 0, first = 0, count = 0;
  bool whole() const { return total == 0 || (first == 0 && count == total); }
};
// Process `rank` of `ranks` takes samples [total * rank / ranks, total * (rank + 1) / ranks).
inline BatchShard shard_of(int64_t total, int rank, int ranks) {
  const int64_t first = total * rank / ranks, end = total * (rank + 1) / ranks;
  return {total, first, end - first};
}

// Word -> float in [0, 1) with 24 random bits.
inline float u32_to_uniform(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

Tensor rand_uniform(const Shape& shape, Generator& gen, float lo = 0.0f, float hi = 1.0f);
// Standard normal by Box-Muller: block c gives elements 4c..4c+3 from its two word pairs.
Tensor rand_normal(const Shape& shape, Generator& gen, float mean = 0.0f, float stddev = 1.0f);
// Integers uniform in [lo, hi) (I32)
Tensor rand_int(const Shape& shape, int64_t lo, int64_t hi, Generator& gen);
// The same draws for a shard of a batch: `shape` is the shard's (shard.count samples).
Tensor rand_uniform(const Shape& shape, Generator& gen, const BatchShard& shard);
// Inverted dropout's mask in one pass: m = 1 / (1 - p) where the uniform draw u >= p, else 0, with u
// the very numbers rand_uniform(shape, gen, shard) would give (same generator use).
Tensor dropout_mask(const Shape& shape, float p, Generator& gen, const BatchShard& shard = {});
Tensor rand_normal(const Shape& shape, Generator& gen, const BatchShard& shard);
Tensor rand_int(const Shape& shape, int64_t lo, int64_t hi, Generator& gen, const BatchShard& shard);
// A uniformly random permutation of 0..n-1 (Fisher-Yates).
std::vector<int64_t> rand_permutation(int64_t n, Generator& gen);

}  // namespace ld
