// Tests of lora/extract and lora/resize: a known low-rank weight difference is recovered exactly
// (the adapter on the base gives the tuned weights); resize keeps the top singular values and
// reports the kept energy; conv layers; bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "lora/attach.h"
#include "lora/extract.h"
#include "lora/resize.h"
#include "lora/svd.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tests/lora/lora_fixture.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::lora;
using ld::test::max_abs_diff;
using ld::test::tiny_model;

namespace {

// W += P Q with P (out, rank), Q (rank, fan_in): a difference of the given rank.
void add_low_rank(nn::Module& m, const std::string& layer, int64_t rank, Generator& gen) {
  Var& w = m.get_module(layer)->parameter("weight");
  const int64_t out = w.size(0), fan_in = w.value().numel() / out;
  Tensor d = matmul(rand_normal({out, rank}, gen, 0.0f, 0.1f), rand_normal({rank, fan_in}, gen));
  Tensor v = w.value();
  axpy_(v, 1.0f, d.view(w.shape()));
}

}  // namespace

TEST_CASE("extract recovers a rank-2 difference exactly; base + adapter = tuned") {
  auto base = tiny_model(1), tuned = tiny_model(1);
  Generator gen(5);
  const std::vector<std::string> changed = {"unet.down1.attn.self_attn.to_q", "unet.mid.attn.cross_attn.to_k",
                                            "unet.up1.attn.self_attn.to_out"};
  for (const auto& l : changed) add_low_rank(*tuned, l, 2, gen);
  Tensor b = tuned->get_module("unet.mid.attn.self_attn.to_out")->parameter("bias").value();
  b.f32()[0] += 1.0f;  // a bias change: outside any adapter, reported
  Tensor conv = tuned->get_module("unet.conv_in")->parameter("weight").value();
  conv.f32()[0] += 1.0f;

  for (int64_t rank : {2, 4}) {
    CAPTURE(rank);
    ExtractOptions o;
    o.rank = rank;
    ExtractResult r = extract_lora(*base, *tuned, o);
    REQUIRE(r.adapter.layers.size() == 3);
    CHECK(r.unchanged.size() == 37);
    CHECK(r.other_changes ==
          std::vector<std::string>{"unet.conv_in.weight", "unet.mid.attn.self_attn.to_out.bias"});
    CHECK(r.adapter.alpha == float(rank));
    for (const auto& l : r.layers) {
      CHECK(l.rank == rank);
      CHECK(l.energy_kept == doctest::Approx(1.0));  // the difference has rank 2
    }
    for (size_t i = 0; i < r.adapter.layers.size(); ++i) {
      const AdapterLayer& l = r.adapter.layers[i];
      CHECK(l.A.shape()[0] == rank);
      const Tensor& w0 = base->get_module(l.name)->parameter("weight").value();
      const Tensor& wt = tuned->get_module(l.name)->parameter("weight").value();
      CHECK(max_abs_diff(add(w0, r.adapter.delta_matrix(i).view(w0.shape())), wt) < 2e-5);
    }
  }
  // rank 1 keeps only the larger singular value of each difference
  ExtractOptions o1;
  o1.rank = 1;
  o1.alpha = 8;
  ExtractResult r1 = extract_lora(*base, *tuned, o1);
  for (size_t i = 0; i < r1.layers.size(); ++i) {
    const std::string& name = r1.layers[i].name;
    Tensor d = sub(tuned->get_module(name)->parameter("weight").value(),
                   base->get_module(name)->parameter("weight").value());
    SVD s = svd(d);
    CHECK(r1.layers[i].energy_kept == doctest::Approx(energy_kept(s.S, 1)).epsilon(1e-5));
    CHECK(r1.layers[i].energy_kept < 0.9999);
    // alpha = 8, r = 1: (8/1) B A is the rank-1 truncation
    CHECK(max_abs_diff(r1.adapter.delta_matrix(i), s.truncate(1).reconstruct()) < 2e-5);
  }
}

TEST_CASE("extract: conv targets, identical models, different layouts") {
  auto base = tiny_model(1), tuned = tiny_model(1);
  ExtractOptions o;
  CHECK_THROWS_WITH_AS(extract_lora(*base, *tuned, o), doctest::Contains("identical weights"), Error);
  Generator gen(6);
  add_low_rank(*tuned, "unet.down1.attn.proj_in", 1, gen);
  add_low_rank(*tuned, "unet.down0.res.conv1", 2, gen);
  o.targets = {"unet.*.proj_in", "unet.down0.res.conv1"};
  o.rank = 2;
  ExtractResult r = extract_lora(*base, *tuned, o);
  REQUIRE(r.adapter.layers.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const AdapterLayer& l = r.adapter.layers[i];
    const Tensor& w0 = base->get_module(l.name)->parameter("weight").value();
    CHECK(l.A.dim() == 4);
    CHECK(l.B.shape() == Shape{w0.size(0), l.rank(), 1, 1});
    CHECK(max_abs_diff(add(w0, r.adapter.delta_matrix(i).view(w0.shape())),
                       tuned->get_module(l.name)->parameter("weight").value()) < 2e-5);
  }
  auto other =
      diffusion::build_model(diffusion::load_config("mnist-t2i-small"), data::Vocabulary::builtin(), 1);
  CHECK_THROWS_WITH_AS(extract_lora(*base, *other, o), doctest::Contains("in the tuned model but"), Error);
  // a rank no targeted layer can hold is refused, naming the largest possible one
  o.rank = 100000;
  CHECK_THROWS_WITH_AS(extract_lora(*base, *tuned, o), doctest::Contains("--rank: 100000 is larger than any"),
                       Error);
}

TEST_CASE("resize keeps the top singular values of (alpha / r) B A and reports the energy") {
  Adapter a;
  a.alpha = 2;
  a.rank = 4;
  Generator gen(7);
  a.layers.push_back({"x.to_q", rand_normal({4, 10}, gen), rand_normal({6, 4}, gen)});
  a.layers.push_back({"x.to_k", rand_normal({4, 10}, gen), rand_normal({6, 4}, gen)});
  // a layer whose update has rank 1 only
  Tensor B1 = matmul(rand_normal({6, 1}, gen), Tensor::ones({1, 4}));
  a.layers.push_back({"x.to_v", rand_normal({4, 10}, gen), B1});

  ResizeOptions o;
  o.rank = 2;
  ResizeResult r = resize_lora(a, o);
  REQUIRE(r.adapter.layers.size() == 3);
  CHECK(r.adapter.rank == 2);
  CHECK(r.adapter.alpha == 2);
  for (size_t i = 0; i < 3; ++i) {
    SVD before = svd(a.delta_matrix(i)), after = svd(r.adapter.delta_matrix(i));
    CHECK(r.adapter.layers[i].A.shape() == Shape{2, 10});
    CHECK(r.adapter.layers[i].B.shape() == Shape{6, 2});
    CHECK(after.S.to_vector()[0] == doctest::Approx(before.S.to_vector()[0]).epsilon(1e-4));
    CHECK(after.S.to_vector()[1] == doctest::Approx(before.S.to_vector()[1]).epsilon(1e-4).scale(1));
    CHECK(max_abs_diff(r.adapter.delta_matrix(i), before.truncate(2).reconstruct()) < 1e-4);
    CHECK(r.layers[i].energy_kept == doctest::Approx(energy_kept(before.S, 2)).epsilon(1e-6));
    CHECK(r.layers[i].old_rank == 4);
  }
  CHECK(r.layers[2].energy_kept == doctest::Approx(1.0));

  // by energy: the rank-1 layer needs 1, the others more; rank never grows
  ResizeOptions e;
  e.energy = 0.999;
  ResizeResult re = resize_lora(a, e);
  CHECK(re.layers[2].new_rank == 1);
  for (const auto& l : re.layers) CHECK(l.energy_kept >= 0.999 - 1e-9);
  CHECK(re.adapter.layers[2].A.shape() == Shape{1, 10});
  ResizeOptions up;  // resize only shrinks: a rank above the adapter's is a mistake, named
  up.rank = 16;
  CHECK_THROWS_WITH_AS(resize_lora(a, up),
                       doctest::Contains("--rank: 16 is larger than the adapter's rank 4"), Error);
  up.rank = 4;  // the adapter's own rank: every layer kept as it is
  CHECK(resize_lora(a, up).adapter.rank == 4);

  ResizeOptions none, both;
  both.rank = 2;
  both.energy = 0.9;
  CHECK_THROWS_WITH_AS(resize_lora(a, none), doctest::Contains("exactly one of --rank"), Error);
  CHECK_THROWS_WITH_AS(resize_lora(a, both), doctest::Contains("exactly one of --rank"), Error);
}
