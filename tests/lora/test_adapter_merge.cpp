// Tests of lora/adapter_merge (`lora merge --out-lora`): several adapters into one adapter file. The exact
// merge (ranks concatenated, scales folded into B) samples bit for bit like the adapters applied
// together, which compute the same concatenated product; the rank-r merge's error ||D - D_r||_F is the
// SVD tail of the summed update D.
#include <doctest/doctest.h>

#include <cmath>

#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "lora/adapter_merge.h"
#include "lora/attach.h"
#include "lora/svd.h"
#include "tensor/elementwise.h"
#include "tests/lora/lora_fixture.h"
#include "tests/temp_dir.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::lora;
using ld::test::max_abs_diff;

namespace {

using ld::test::TempDir;
using ld::test::tiny_model;

// A random adapter of rank r, alpha on `targets`.
Adapter random_adapter(int64_t r, float alpha, const std::vector<std::string>& targets, uint64_t seed) {
  auto model = tiny_model();
  LoRAConfig c;
  c.rank = r;
  c.alpha = alpha;
  c.targets = targets;
  c.seed = seed;
  attach_lora(*model, c, "x");
  ld::test::randomize_up(*model, seed + 100);
  Adapter a = adapter_from_model(*model, "x");
  a.targets = targets;
  return a;
}

Tensor sample_with(const std::vector<std::string>& specs) {
  auto model = tiny_model();
  load_lora_specs(*model, specs);
  return ld::test::sample_tiny(*model);
}

double frobenius(const Tensor& t) {
  double s = 0;
  for (float v : t.contiguous().to_vector()) s += double(v) * v;
  return std::sqrt(s);
}

}  // namespace

TEST_CASE(
    "exact merge: B' = [wA sA BA | wB sB BB], A' = [AA; AB]; samples bit for bit like the adapters "
    "together") {
  TempDir tmp("test-adapter-merge");
  // different ranks, alphas and layer sets (B also adapts the text encoder; a conv layer only in A)
  std::vector<std::string> ta = default_targets(), tb = default_targets();
  ta.push_back("unet.mid.res1.conv1");
  for (const auto& t : text_encoder_targets()) tb.push_back(t);
  save_adapter(tmp / "a.safetensors", random_adapter(2, 3, ta, 1));
  save_adapter(tmp / "b.safetensors", random_adapter(3, 2, tb, 2));
  const std::vector<std::string> specs{tmp / "a.safetensors:0.7", tmp / "b.safetensors:-0.4:up=0.9"};
  std::vector<WeightedAdapter> in;
  for (const auto& s : specs) in.push_back({read_adapter(parse_lora_spec(s).path), parse_lora_spec(s)});
  const AdapterMergeResult r = merge_adapters(in);
  save_adapter(tmp / "ab.safetensors", r.adapter);
  const Adapter ab = read_adapter(tmp / "ab.safetensors");
  CHECK(ab.alpha == 5.0f);  // the largest concatenated rank: every layer's scale is exactly 1
  CHECK(ab.rank == 5);
  for (size_t i = 0; i < ab.layers.size(); ++i) {
    const std::string& name = ab.layers[i].name;
    CAPTURE(name);
    const Tensor want = summed_delta(in, name);
    CHECK(max_abs_diff(ab.delta_matrix(i), want) <= 1e-6 * (1 + frobenius(want)));
    CHECK(ab.layers[i].rank() == 5);  // layers in only one adapter are padded with zero ranks
  }
  CHECK(ab.layers.size() == 40 + 1 + 4);  // the conv only in A, one text layer of 4 only in B

  // one eps_theta, bit for bit: the adapters together build the merged file's product
  {
    auto m1 = tiny_model(), m2 = tiny_model();
    load_lora_specs(*m1, specs);
    load_lora_specs(*m2, {tmp / "ab.safetensors"});
    Generator gen(3);
    const Tensor x = rand_normal({2, 1, 28, 28}, gen), t = Tensor::from_ints({3, 500}, {2});
    const Tensor ids = ld::test::two_prompts();
    ag::NoGrad ng;
    m1->eval();
    m2->eval();
    const Tensor e1 = m1->forward(Var(x), t, ids).value(), e2 = m2->forward(Var(x), t, ids).value();
    CHECK(max_abs_diff(e1, e2) == 0.0);
  }
  const Tensor together = sample_with(specs), merged = sample_with({tmp / "ab.safetensors"});
  const Tensor base = sample_with({});
  REQUIRE(max_abs_diff(together, base) > 1e-3);
  CHECK(max_abs_diff(together, merged) == 0.0);
  // at another weight the merged file is a different (scaled) adapter, no longer the same numbers
  CHECK(max_abs_diff(sample_with({tmp / "ab.safetensors:0.5"}), merged) > 1e-4);
}

TEST_CASE("rank-r merge: the error is the SVD tail of the summed update") {
  TempDir tmp("test-adapter-merge-rank");
  std::vector<WeightedAdapter> in{{random_adapter(2, 3, default_targets(), 1), parse_lora_spec("a:0.7")},
                                  {random_adapter(3, 2, default_targets(), 2), parse_lora_spec("b:1.3")}};
  for (int64_t rank : {1, 3, 5}) {
    CAPTURE(rank);
    const AdapterMergeResult r = merge_adapters(in, rank);
    REQUIRE(r.adapter.layers.size() == 40);
    for (size_t i = 0; i < r.adapter.layers.size(); ++i) {
      const std::string& name = r.adapter.layers[i].name;
      const Tensor D = summed_delta(in, name);
      const SVD full = svd(D);
      double tail = 0;
      for (int64_t k = rank; k < full.size(); ++k) tail += double(full.S.f32()[k]) * full.S.f32()[k];
      tail = std::sqrt(tail);
      const double err = frobenius(sub(D, r.adapter.delta_matrix(i)));
      CHECK(r.layers[i].tail_norm == doctest::Approx(tail).epsilon(1e-5));
      CHECK(std::fabs(err - tail) <= 1e-3 * tail + 1e-6 * frobenius(D));  // float rounding of D_r only
      if (rank == 5) CHECK(err <= 1e-5 * frobenius(D));                   // rank 5 = 2 + 3 holds D whole
    }
  }
  CHECK_THROWS_WITH_AS(merge_adapters({{in[0].adapter, parse_lora_spec("a:1:start=0.5")}}),
                       doctest::Contains("step range"), Error);
}
