// Tests of lora/adapter_file (Fig. 5): an adapter saved from a model and loaded onto a fresh copy
// of the base gives the same outputs; the file holds only lora_A / lora_B with the metadata;
// bad files fail naming the layer (missing layer, wrong shapes, half pairs, foreign tensors,
// not an adapter) and a different base only warns; FILE:WEIGHT parsing.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "nn/safetensors.h"
#include "tests/lora/lora_fixture.h"
#include "tests/temp_dir.h"

using namespace ld;
using namespace ld::lora;
namespace fs = std::filesystem;

namespace {

using ld::test::TempDir;
using ld::test::tiny_model;

Tensor eps(diffusion::TextToImageModel& m, uint64_t seed) {
  Generator gen(seed);
  Tensor ids = Tensor::zeros({2, 16}, DType::I32);
  ids.i32()[0] = ids.i32()[16] = 1;
  ids.i32()[1] = 7;
  ag::NoGrad ng;
  m.eval();
  return m.forward(Var(rand_normal({2, 1, 28, 28}, gen)), Tensor::from_ints({3, 500}, {2}), ids).value();
}

// A trained-looking adapter on the tiny model: random B.
Adapter make_adapter(diffusion::TextToImageModel& model) {
  LoRAConfig c;
  c.rank = 2;
  c.alpha = 3;
  attach_lora(model, c, "mine");
  Generator gen(9);
  for (auto& [_, l] : lora_layers(model))
    l->adapter(0).B().set_value(rand_normal(l->adapter(0).B().shape(), gen));
  Adapter a = adapter_from_model(model, "mine");
  a.targets = c.targets;
  a.base_config = model.config.to_json().dump();
  remove_lora(model);  // unmerged: back to the base
  a.base_weights_hash = diffusion::weights_hash(model.state_dict());
  a.extra["training"] = R"({"pairs": 20})";
  return a;
}

}  // namespace

TEST_CASE("adapter file round trip: only lora_A / lora_B, metadata, same outputs on a fresh base") {
  TempDir tmp("test-adapter");
  auto model = tiny_model(1);
  const Tensor base_out = eps(*model, 3);
  Adapter a = make_adapter(*model);
  CHECK(a.layers.size() == 40);
  CHECK(a.rank == 2);
  CHECK(a.alpha == 3.0f);
  save_adapter(tmp / "a.safetensors", a);

  nn::SafeTensors st = nn::load_safetensors(tmp / "a.safetensors");
  CHECK(st.tensors.size() == 80);
  for (auto& [name, t] : st.tensors) {
    const std::string tail = name.substr(name.size() - 14);
    CHECK_MESSAGE((tail == ".lora_A.weight" || tail == ".lora_B.weight"), name);
  }
  CHECK(st.tensors.at("unet.down1.attn.cross_attn.to_k.lora_A.weight").shape() ==
        Shape{2, model->config.text_dim});
  CHECK(st.tensors.at("unet.down1.attn.cross_attn.to_k.lora_B.weight").shape() ==
        Shape{model->config.channels[1], 2});
  CHECK(st.metadata.at("format") == "loradiff-lora");
  CHECK(st.metadata.at("rank") == "2");
  CHECK(st.metadata.at("alpha") == "3");
  CHECK(nlohmann::json::parse(st.metadata.at("targets")) == nlohmann::json(default_targets()));
  CHECK(st.metadata.at("base_weights_hash") == diffusion::weights_hash(model->state_dict()));
  CHECK(nlohmann::json::parse(st.metadata.at("base_config"))["name"] == "mnist-t2i-tiny");
  CHECK(st.metadata.at("training") == R"({"pairs": 20})");

  Adapter b = read_adapter(tmp / "a.safetensors");
  CHECK(b.layers.size() == 40);
  CHECK(b.extra.at("training") == R"({"pairs": 20})");
  for (size_t i = 0; i < a.layers.size(); ++i) {
    CHECK(b.layers[i].name == a.layers[i].name);
    CHECK(b.layers[i].A.to_vector() == a.layers[i].A.to_vector());
    CHECK(b.layers[i].B.to_vector() == a.layers[i].B.to_vector());
  }

  // onto a fresh copy of the base: no warnings, outputs change with w, w = 0 is the base exactly
  auto fresh = tiny_model(1);
  LoadAdapterReport rep = load_adapter(*fresh, b, 1.0f, "a");
  CHECK(rep.warnings.empty());
  CHECK(rep.layers == 40);
  const Tensor with = eps(*fresh, 3);
  CHECK(with.to_vector() != base_out.to_vector());
  CHECK(set_adapter_weight(*fresh, "a", 0.0f) == 40);
  CHECK(eps(*fresh, 3).to_vector() == base_out.to_vector());
  // the same file twice under two names, each at 0.5 = once at 1 (up to rounding)
  set_adapter_weight(*fresh, "a", 0.5f);
  load_adapter(*fresh, b, 0.5f, "a2");
  const Tensor twice = eps(*fresh, 3);
  for (size_t i = 0; i < twice.to_vector().size(); i += 97)
    CHECK(twice.to_vector()[i] == doctest::Approx(with.to_vector()[i]).epsilon(1e-4).scale(1e-3));
  CHECK_THROWS_WITH_AS(load_adapter(*fresh, b, 1.0f, "a"),
                       doctest::Contains("already has an adapter called 'a'"), Error);
}

TEST_CASE("bad adapter files fail clearly; a different base warns") {
  TempDir tmp("test-adapter");
  auto model = tiny_model(1);
  Adapter a = make_adapter(*model);
  save_adapter(tmp / "good.safetensors", a);
  const nn::SafeTensors good = nn::load_safetensors(tmp / "good.safetensors");

  SUBCASE("a model without that layer: fails naming the layer, attaches nothing") {
    Adapter bad = a;
    bad.layers[0].name = "unet.down0.attn.self_attn.to_q";  // down0 has no attention
    auto m = tiny_model(1);
    const std::string before = m->str();
    CHECK_THROWS_WITH_AS(
        load_adapter(*m, bad, 1.0f, "x"),
        doctest::Contains("layer 'unet.down0.attn.self_attn.to_q': the model has no such layer"), Error);
    CHECK(m->str() == before);
  }
  SUBCASE("wrong shapes: another config") {
    auto small =
        diffusion::build_model(diffusion::load_config("mnist-t2i-small"), data::Vocabulary::builtin(), 1);
    CHECK_THROWS_WITH_AS(load_adapter(*small, read_adapter(tmp / "good.safetensors"), 1.0f, "x"),
                         doctest::Contains("need a weight of shape"), Error);
    try {  // 40 layers do not fit: the first 5 on one line, then the count
      load_adapter(*small, read_adapter(tmp / "good.safetensors"), 1.0f, "x");
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find('\n') == std::string::npos);
      CHECK(msg.find("; and 35 more") != std::string::npos);
    }
    CHECK(lora_layers(*small).empty());
  }
  SUBCASE("a layer that is not Linear / Conv2d") {
    Adapter bad = a;
    bad.layers[0].name = "unet.mid.attn.ln1";
    auto m = tiny_model(1);
    CHECK_THROWS_WITH_AS(load_adapter(*m, bad, 1.0f, "x"), doctest::Contains("is a LayerNorm, not a Linear"),
                         Error);
  }
  SUBCASE("a different base: warning with both hashes, still attached") {
    auto other = tiny_model(2);
    LoadAdapterReport r = load_adapter(*other, read_adapter(tmp / "good.safetensors"), 1.0f, "x");
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("was trained on base weights " + a.base_weights_hash) != std::string::npos);
    CHECK(r.warnings[0].find(diffusion::weights_hash(tiny_model(2)->state_dict())) != std::string::npos);
    CHECK(lora_layers(*other).size() == 40);
  }
  SUBCASE("malformed files") {
    auto write = [&](nn::StateDict t, nn::Metadata m) {
      nn::save_safetensors(tmp / "bad.safetensors", t, m);
      return tmp / "bad.safetensors";
    };
    nn::StateDict t = good.tensors;
    t.erase("unet.mid.attn.self_attn.to_v.lora_B.weight");
    CHECK_THROWS_WITH_AS(read_adapter(write(t, good.metadata)),
                         doctest::Contains("layer 'unet.mid.attn.self_attn.to_v' has lora_A but no lora_B"),
                         Error);
    t = good.tensors;
    t["unet.mid.attn.self_attn.to_v.weight"] = Tensor::zeros({2, 2});
    CHECK_THROWS_WITH_AS(read_adapter(write(t, good.metadata)),
                         doctest::Contains("unexpected tensor 'unet.mid.attn.self_attn.to_v.weight'"), Error);
    t = good.tensors;
    t["unet.mid.attn.self_attn.to_v.lora_B.weight"] = Tensor::zeros({8, 3});
    CHECK_THROWS_WITH_AS(read_adapter(write(t, good.metadata)), doctest::Contains("disagree on r"), Error);
    nn::Metadata m = good.metadata;
    m.erase("format");
    CHECK_THROWS_WITH_AS(read_adapter(write(good.tensors, m)),
                         doctest::Contains("not a loradiff LoRA adapter"), Error);
    m = good.metadata;
    m["alpha"] = "four";
    CHECK_THROWS_WITH_AS(read_adapter(write(good.tensors, m)),
                         doctest::Contains("alpha 'four' is not a number"), Error);
    // a model checkpoint given as an adapter
    diffusion::save_model(tmp / "model.safetensors", *tiny_model(1), data::Vocabulary::builtin());
    CHECK_THROWS_WITH_AS(read_adapter(tmp / "model.safetensors"),
                         doctest::Contains("not a loradiff LoRA adapter"), Error);
    CHECK_THROWS_WITH_AS(read_adapter(tmp / "missing.safetensors"), doctest::Contains("missing.safetensors"),
                         Error);
  }
}

TEST_CASE("FILE:WEIGHT specs") {
  CHECK(parse_lora_spec("a.safetensors:0.8").path == "a.safetensors");
  CHECK(parse_lora_spec("a.safetensors:0.8").weight == doctest::Approx(0.8));
  CHECK(parse_lora_spec("a.safetensors:-1").weight == -1.0f);
  CHECK(parse_lora_spec("a.safetensors").weight == 1.0f);
  CHECK(parse_lora_spec("dir:x/a.safetensors").path == "dir:x/a.safetensors");
  CHECK_THROWS_WITH_AS(parse_lora_spec(":0.5"), doctest::Contains("expected FILE or FILE:WEIGHT"), Error);
  CHECK_THROWS_WITH_AS(parse_lora_spec("a:inf"), doctest::Contains("finite"), Error);
  CHECK(adapter_display_name("runs/nines.safetensors") == "nines");
}

TEST_CASE("non-finite adapters, weights, alphas and merges are refused before the model changes") {
  TempDir tmp("test-adapter-finite");
  auto model = tiny_model(1);
  Adapter a = make_adapter(*model);
  const std::string before = diffusion::weights_hash(model->state_dict());

  SUBCASE("a NaN in a file: the tensor and the element are named") {
    save_adapter(tmp / "good.safetensors", a);
    nn::SafeTensors st = nn::load_safetensors(tmp / "good.safetensors");
    const std::string name = a.layers[3].name + ".lora_B.weight";
    st.tensors.at(name).f32()[5] = std::nanf("");
    nn::save_safetensors(tmp / "nan.safetensors", st.tensors, st.metadata);
    const std::string want = "tensor '" + name + "' holds nan at element 5";
    CHECK_THROWS_WITH_AS(read_adapter(tmp / "nan.safetensors"), doctest::Contains(want.c_str()), Error);
  }
  SUBCASE("a weight whose update overflows: nothing attached") {
    Adapter ones = a;  // B A = 8 everywhere (r = 2), alpha / r = 1.5
    for (auto& l : ones.layers) {
      l.A = Tensor::full(l.A.shape(), 2.0f);
      l.B = Tensor::full(l.B.shape(), 2.0f);
    }
    CHECK_THROWS_WITH_AS(
        load_adapter(*model, ones, 1e38f, "x"),
        doctest::Contains("at weight 1e+38: the merged weight W + w (alpha / r) B A of layer"), Error);
    CHECK(lora_layers(*model).empty());
    CHECK(diffusion::weights_hash(model->state_dict()) == before);
    CHECK_NOTHROW(load_adapter(*model, ones, 0.8f, "x"));  // the same adapter at a sane weight
  }
  SUBCASE("an update that overflows before the weight: refused as merge would refuse it") {
    // B A = 2 * 1.44e38 is finite, (alpha / r) B A = 4.3e38 overflows, w (alpha / r) B A at w = 0.5
    // would not. Merging computes W + w ((alpha / r) B A), so loading must refuse it too (the
    // fuzzer's finding).
    Adapter edge = a;
    for (auto& l : edge.layers) {
      l.A = Tensor::full(l.A.shape(), 1.2e19f);
      l.B = Tensor::full(l.B.shape(), 1.2e19f);
    }
    CHECK_THROWS_WITH_AS(load_adapter(*model, edge, 0.5f, "x"),
                         doctest::Contains("the update (alpha / r) B A of layer"), Error);
    CHECK_THROWS_WITH_AS(load_adapter(*model, edge, 0.5f, "x"),
                         doctest::Contains("the adapter's values are too large for float32"), Error);
    CHECK(lora_layers(*model).empty());
    CHECK(diffusion::weights_hash(model->state_dict()) == before);
  }
  SUBCASE("an adapter that loads can be merged and unmerged back to the base bits") {
    Adapter edge = a;  // (alpha / r) B A = 1.5 * 2 * 1e37 = 3e37: finite, and so is W + 3e37
    for (auto& l : edge.layers) {
      l.A = Tensor::full(l.A.shape(), 1e19f);
      l.B = Tensor::full(l.B.shape(), 1e18f);
    }
    REQUIRE_NOTHROW(load_adapter(*model, edge, 1.0f, "x"));
    CHECK_NOTHROW(merge_lora(*model));
    unmerge_lora(*model);
    remove_lora(*model);
    CHECK(diffusion::weights_hash(model->state_dict()) == before);
  }
  SUBCASE("a huge alpha: the scale itself overflows") {
    Adapter huge = a;
    huge.alpha = 3e38f;
    CHECK_THROWS_WITH_AS(load_adapter(*model, huge, 4.0f, "x"), doctest::Contains("the scale w alpha / r"),
                         Error);
    CHECK(lora_layers(*model).empty());
  }
  SUBCASE("a merge whose sum overflows: nothing merged") {
    // each adapter alone is finite (B A = 2e5, w (alpha / r) B A = 1.98e38); two overflow
    Adapter big = a;
    for (auto& l : big.layers) {
      l.A = Tensor::full(l.A.shape(), 1e2f);
      l.B = Tensor::full(l.B.shape(), 1e3f);
    }
    load_adapter(*model, big, 6.6e32f, "one");
    load_adapter(*model, big, 6.6e32f, "two");
    const nn::StateDict w_before = base_state_dict(*model);
    CHECK_THROWS_WITH_AS(merge_lora(*model), doctest::Contains("would hold non-finite weights after merging"),
                         Error);
    for (auto& [name, layer] : lora_layers(*model))
      for (size_t i = 0; i < layer->num_adapters(); ++i) CHECK_FALSE(layer->adapter(i).merged);
    CHECK(diffusion::weights_hash(base_state_dict(*model)) == diffusion::weights_hash(w_before));
    // one layer's merge on its own refuses too, leaving W0
    auto layer = lora_layers(*model)[0].second;
    layer->merge(0);
    const Tensor w1 = layer->weight.value().clone();
    CHECK_THROWS_WITH_AS(layer->merge(1), doctest::Contains("makes the weight non-finite"), Error);
    CHECK(layer->weight.value().to_vector() == w1.to_vector());
  }
  SUBCASE("a huge metadata value is quoted short, on one line") {
    save_adapter(tmp / "good.safetensors", a);
    nn::SafeTensors st = nn::load_safetensors(tmp / "good.safetensors");
    st.metadata["format"] = "x\n" + std::string(2'000'000, 'y');
    nn::save_safetensors(tmp / "blob.safetensors", st.tensors, st.metadata);
    try {
      read_adapter(tmp / "blob.safetensors");
      FAIL("accepted");
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find("not a loradiff LoRA adapter") != std::string::npos);
      CHECK(msg.find('\n') == std::string::npos);
      CHECK(msg.size() < 400);
    }
  }
}
