// Tests of nn/checkpoint: a module saved and loaded through safetensors, strict and not.
#include <doctest/doctest.h>

#include <filesystem>

#include "nn/checkpoint.h"
#include "nn/linear.h"
#include "nn/sequential.h"

using namespace ld;
using namespace ld::nn;

namespace {
std::shared_ptr<Sequential> mlp(Generator& gen, int64_t hidden) {
  auto m = make<Sequential>();
  m->push_back(make<Linear>(3, hidden, true, gen)).push_back(make<Linear>(hidden, 2, false, gen));
  return m;
}
}  // namespace

TEST_CASE("save_checkpoint / load_checkpoint restore weights and metadata; mismatches name the file") {
  const auto path = std::filesystem::temp_directory_path() /
                    ("loradiff_ckpt_" + std::to_string(::getpid()) + ".safetensors");
  Generator gen(1);
  auto a = mlp(gen, 4), b = mlp(gen, 4), c = mlp(gen, 5);
  save_checkpoint(path.string(), *a, {{"format", "loradiff"}});
  CheckpointInfo info = load_checkpoint(path.string(), *b);
  CHECK(info.metadata.at("format") == "loradiff");
  CHECK(info.report.ok());
  for (auto& [name, t] : a->state_dict()) CHECK(b->state_dict().at(name).to_vector() == t.to_vector());

  CHECK_THROWS_WITH_AS(load_checkpoint(path.string(), *c),
                       doctest::Contains((path.string() + ": load_state_dict").c_str()), Error);
  info = load_checkpoint(path.string(), *c, /*strict=*/false);
  CHECK(info.report.mismatched.size() == 3);  // 0.weight, 0.bias, 1.weight
  CHECK(info.report.missing.empty());
  std::filesystem::remove(path);
}

TEST_CASE("with_prefix / take_prefix put several state dicts in one file") {
  StateDict model{{"w", Tensor::ones({2})}},
      optim{{"w.exp_avg", Tensor::zeros({2})}, {"step", Tensor::from_ints({3}, {1})}};
  StateDict all = with_prefix(optim, "optim.");
  all.merge(StateDict(model));
  CHECK(all.size() == 3);
  CHECK(take_prefix(all, "optim.").size() == 2);
  CHECK(take_prefix(all, "optim.").count("step"));
  CHECK(take_prefix(all, "ema.").empty());
}
