// Tests of lora/attach (Fig. 2): target patterns, the default targets on the tiny model (every
// attention projection of the UNet), freezing, unchanged outputs, merge and removal.
#include <doctest/doctest.h>

#include <algorithm>

#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "lora/attach.h"
#include "lora/lora_linear.h"
#include "tests/lora/lora_fixture.h"

using namespace ld;
using namespace ld::lora;
using ld::test::tiny_model;

namespace {

struct Inputs {
  Tensor x, t, ids;
};

Inputs inputs(Generator& gen) {
  Tensor ids = Tensor::zeros({2, 16}, DType::I32);
  for (int b = 0; b < 2; ++b) {
    ids.i32()[b * 16] = 1;
    ids.i32()[b * 16 + 1] = 5 + b;
    ids.i32()[b * 16 + 2] = 9;
  }
  return {rand_normal({2, 1, 28, 28}, gen), Tensor::from_ints({10, 700}, {2}), ids};
}

Tensor eps(diffusion::TextToImageModel& m, const Inputs& in) {
  ag::NoGrad ng;
  m.eval();
  return m.forward(Var(in.x), in.t, in.ids).value();
}

}  // namespace

TEST_CASE("target patterns: glob, last name part, exact name") {
  const std::string q = "unet.down1.attn.self_attn.to_q";
  CHECK(matches_target(q, "unet.*.to_q"));
  CHECK(matches_target(q, "to_q"));
  CHECK(matches_target(q, "*"));
  CHECK(matches_target(q, "unet.down1.*"));
  CHECK(matches_target(q, q));
  CHECK_FALSE(matches_target(q, "to_k"));
  CHECK_FALSE(matches_target(q, "text.*.to_q"));
  CHECK_FALSE(matches_target(q, "down1.attn"));  // exact names must be whole
  CHECK_FALSE(matches_target("unet.down1.attn.self_attn.to_qq", "unet.*.to_q"));
  CHECK(split_patterns(" to_q, to_k,,unet.*.to_out ") ==
        std::vector<std::string>{"to_q", "to_k", "unet.*.to_out"});
}

TEST_CASE("default targets: to_q, to_k, to_v, to_out of every UNet attention; nothing else trains") {
  auto model = tiny_model(1);
  Generator gen(2);
  const Inputs in = inputs(gen);
  const Tensor before = eps(*model, in);
  const nn::StateDict base = model->state_dict();
  const int64_t unet_params = model->unet->num_parameters();

  AttachReport r = attach_lora(*model, LoRAConfig{});
  // 5 AttnBlocks (down1, down2, mid, up2, up1) x (self + cross) x 4 projections
  CHECK(r.layers.size() == 40);
  for (const auto& l : r.layers) {
    CHECK(l.rfind("unet.", 0) == 0);
    CHECK(std::dynamic_pointer_cast<LoRALinear>(model->get_module(l)));
  }
  CHECK(std::find(r.layers.begin(), r.layers.end(), "unet.mid.attn.cross_attn.to_k") != r.layers.end());
  CHECK(r.base_params == static_cast<int64_t>([&] {
          int64_t n = 0;
          for (auto& [_, t] : base) n += t.numel();
          return n;
        }()));

  // trainable = exactly the adapters; every base parameter frozen and still under its name
  int64_t trainable = 0;
  for (auto& [name, p] : model->named_parameters()) {
    CHECK(p.requires_grad() == is_adapter_parameter(name));
    if (p.requires_grad()) trainable += p.value().numel();
  }
  CHECK(trainable == r.adapter_params);
  CHECK(count_adapter_parameters(*model) == r.adapter_params);
  CHECK(static_cast<double>(trainable) / static_cast<double>(unet_params) < 0.05);
  const nn::StateDict after = base_state_dict(*model);
  CHECK(after.size() == base.size());
  for (auto& [name, t] : base) CHECK(after.at(name).to_vector() == t.to_vector());
  CHECK(model->state_dict().count("unet.down1.attn.self_attn.to_q.lora_A.weight") == 1);
  CHECK(model->state_dict().at("unet.down1.attn.cross_attn.to_k.lora_A.weight").shape() ==
        Shape{4, model->config.text_dim});

  // B = 0: the whole model's output is unchanged, bit for bit
  CHECK(eps(*model, in).to_vector() == before.to_vector());

  // trained adapters change it; merge keeps it; remove_lora leaves the merged weights
  for (auto& [_, layer] : lora_layers(*model))
    layer->adapter(0).B().set_value(rand_normal(layer->adapter(0).B().shape(), gen, 0.0f, 0.05f));
  const Tensor adapted = eps(*model, in);
  CHECK(adapted.to_vector() != before.to_vector());
  merge_lora(*model);
  const Tensor merged = eps(*model, in);
  double d = 0;
  for (size_t i = 0; i < merged.to_vector().size(); ++i)
    d = std::max(d, double(std::fabs(merged.to_vector()[i] - adapted.to_vector()[i])));
  CHECK(d < 1e-4);
  unmerge_lora(*model);
  CHECK(eps(*model, in).to_vector() == adapted.to_vector());
  // unmerged adapters are dropped by remove_lora: back to the base exactly
  CHECK(remove_lora(*model) == 40);
  CHECK(lora_layers(*model).empty());
  CHECK(eps(*model, in).to_vector() == before.to_vector());
}

TEST_CASE("text encoder and conv targets; errors name the pattern or the layer") {
  auto model = tiny_model(3);
  LoRAConfig c;
  c.targets = text_encoder_targets();
  AttachReport r = attach_lora(*model, c);
  CHECK(r.layers.size() == 4 * model->config.text_layers);
  for (const auto& l : r.layers) CHECK(l.rfind("text.", 0) == 0);

  // a second adapter on the same layers, conv layers by name
  LoRAConfig c2;
  c2.rank = 2;
  c2.alpha = 1;
  c2.targets = {"text.*.to_q", "unet.*.proj_in", "unet.conv_in"};
  AttachReport r2 = attach_lora(*model, c2, "second");
  CHECK(r2.layers.size() == model->config.text_layers + 5 + 1);
  // only the newest adapter trains
  for (auto& [name, p] : model->named_parameters())
    CHECK(p.requires_grad() ==
          (name.find(".lora_A_1.") != std::string::npos || name.find(".lora_B_1.") != std::string::npos ||
           (name.find("proj_in.lora_") != std::string::npos) ||
           (name.find("conv_in.lora_") != std::string::npos)));

  LoRAConfig nothing;
  nothing.targets = {"to_nothing"};
  CHECK_THROWS_WITH_AS(attach_lora(*model, nothing),
                       doctest::Contains("'to_nothing' matches no Linear or Conv2d"), Error);
  LoRAConfig big;
  big.rank = 1000;
  CHECK_THROWS_WITH_AS(attach_lora(*model, big), doctest::Contains("larger than layer"), Error);
  LoRAConfig again;
  again.targets = {"unet.*.to_q", "to_q"};
  const std::string before = model->str();
  CHECK_THROWS_WITH_AS(attach_lora(*model, again, "second"),
                       doctest::Contains("already has an adapter called 'second'"), Error);
  CHECK(model->str() == before);  // checked before anything changed
}
