// Tests of lora/adapter_formats: kohya's and PEFT's adapter layouts. loradiff -> kohya -> loradiff and
// loradiff -> peft -> loradiff are bit-exact (tensors and metadata); the converted files have the other
// tools' names and metadata; --lora reads every layout (the same samples); an unknown layout is refused
// naming the expected ones; a foreign kohya file without alphas gets alpha = r.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "lora/adapter_formats.h"
#include "lora/attach.h"
#include "tensor/elementwise.h"
#include "tests/lora/lora_fixture.h"
#include "tests/temp_dir.h"

using namespace ld;
using namespace ld::lora;
namespace fs = std::filesystem;

namespace {

using ld::test::TempDir;
using ld::test::tiny_model;

Adapter make_adapter() {
  auto model = tiny_model();
  LoRAConfig c;
  c.rank = 2;
  c.alpha = 3;
  c.targets = default_targets();
  c.targets.push_back("unet.mid.res1.conv1");  // a conv layer: 4-D A and B
  for (const auto& t : text_encoder_targets()) c.targets.push_back(t);
  attach_lora(*model, c, "x");
  ld::test::randomize_up(*model, 4);
  Adapter a = adapter_from_model(*model, "x");
  a.targets = c.targets;
  a.base_config = model->config.to_json().dump();
  remove_lora(*model);
  a.base_weights_hash = diffusion::weights_hash(model->state_dict());
  a.extra["training"] = R"({"pairs": 20})";
  return a;
}

void check_same(const Adapter& x, const Adapter& y) {
  REQUIRE(x.layers.size() == y.layers.size());
  for (size_t i = 0; i < x.layers.size(); ++i) {
    CAPTURE(x.layers[i].name);
    CHECK(x.layers[i].name == y.layers[i].name);
    CHECK(x.layers[i].A.shape() == y.layers[i].A.shape());
    CHECK(x.layers[i].A.contiguous().to_vector() == y.layers[i].A.contiguous().to_vector());
    CHECK(x.layers[i].B.contiguous().to_vector() == y.layers[i].B.contiguous().to_vector());
  }
  CHECK(x.alpha == y.alpha);
  CHECK(x.rank == y.rank);
  CHECK(x.targets == y.targets);
  CHECK(x.base_config == y.base_config);
  CHECK(x.base_weights_hash == y.base_weights_hash);
  CHECK(x.extra == y.extra);
}

Tensor sample_with(const std::string& spec) {
  auto model = tiny_model();
  load_lora_specs(*model, {spec});
  return ld::test::sample_tiny(*model, 3);
}

}  // namespace

TEST_CASE("kohya names and metadata; loradiff -> kohya -> loradiff is bit-exact") {
  TempDir tmp("test-adapter-kohya");
  const Adapter a = make_adapter();
  save_adapter(tmp / "a.safetensors", a);
  const Adapter orig = read_adapter(tmp / "a.safetensors");
  save_adapter_as(tmp / "k.safetensors", orig, AdapterLayout::Kohya);
  const nn::SafeTensors st = nn::load_safetensors(tmp / "k.safetensors");
  CHECK(kohya_name("unet.down1.attn.self_attn.to_q") == "lora_unet_down1_attn_self_attn_to_q");
  CHECK(kohya_name("text.layers.0.attn.to_q") == "lora_te_layers_0_attn_to_q");
  CHECK(st.tensors.count("lora_unet_down1_attn_self_attn_to_q.lora_down.weight"));
  CHECK(st.tensors.count("lora_unet_down1_attn_self_attn_to_q.lora_up.weight"));
  CHECK(st.tensors.at("lora_unet_down1_attn_self_attn_to_q.alpha").numel() == 1);
  CHECK(st.tensors.at("lora_unet_mid_res1_conv1.lora_down.weight").dim() == 4);
  CHECK(st.tensors.count("lora_te_layers_0_attn_to_q.lora_up.weight"));
  CHECK(st.metadata.at("ss_network_dim") == "2");
  CHECK(st.metadata.at("ss_network_alpha") == "3");
  CHECK(st.metadata.at("ss_network_module") == "networks.lora");
  CHECK(!st.metadata.count("format"));
  CHECK(detect_layout(tmp / "k.safetensors") == AdapterLayout::Kohya);
  CHECK(detect_layout(tmp / "a.safetensors") == AdapterLayout::Loradiff);
  const Adapter back = read_adapter(tmp / "k.safetensors");
  check_same(orig, back);
  save_adapter_as(tmp / "back.safetensors", back, AdapterLayout::Loradiff);
  std::ifstream f1(tmp / "a.safetensors", std::ios::binary), f2(tmp / "back.safetensors", std::ios::binary);
  const std::string b1((std::istreambuf_iterator<char>(f1)), {}),
      b2((std::istreambuf_iterator<char>(f2)), {});
  CHECK(b1 == b2);  // the very same file
  CHECK(sample_with(tmp / "k.safetensors:0.7").contiguous().to_vector() ==
        sample_with(tmp / "a.safetensors:0.7").contiguous().to_vector());

  SUBCASE("a foreign kohya file: no loradiff metadata, no .alpha means alpha = r") {
    nn::StateDict t;
    for (auto& [k, v] : st.tensors)
      if (!k.ends_with(".alpha")) t[k] = v;
    nn::save_safetensors(tmp / "foreign.safetensors", t, {{"ss_network_dim", "2"}, {"ss_output_name", "x"}});
    const Adapter f = read_adapter(tmp / "foreign.safetensors");
    CHECK(f.alpha == 2.0f);
    CHECK(f.layers.size() == orig.layers.size());
    CHECK(f.extra.at("ss_output_name") == "x");
    t["lora_unet_nowhere_to_q.lora_down.weight"] = Tensor::zeros({2, 8});
    t["lora_unet_nowhere_to_q.lora_up.weight"] = Tensor::zeros({8, 2});
    nn::save_safetensors(tmp / "foreign2.safetensors", t);
    CHECK_THROWS_WITH_AS(read_adapter(tmp / "foreign2.safetensors"),
                         doctest::Contains("kohya layer 'lora_unet_nowhere_to_q' names no module"), Error);
  }
}

TEST_CASE("PEFT folder: names and adapter_config.json; loradiff -> peft -> loradiff is bit-exact") {
  TempDir tmp("test-adapter-peft");
  const Adapter a = make_adapter();
  save_adapter(tmp / "a.safetensors", a);
  const Adapter orig = read_adapter(tmp / "a.safetensors");
  save_adapter_as(tmp / "p", orig, AdapterLayout::Peft);
  const nn::SafeTensors st = nn::load_safetensors(tmp / "p/adapter_model.safetensors");
  CHECK(st.tensors.count("base_model.model.unet.down1.attn.self_attn.to_q.lora_A.weight"));
  CHECK(st.tensors.count("base_model.model.text.layers.0.attn.to_q.lora_B.weight"));
  std::ifstream in(tmp / "p/adapter_config.json");
  const nlohmann::json cfg = nlohmann::json::parse(in);
  CHECK(cfg["peft_type"] == "LORA");
  CHECK(cfg["r"] == 2);
  CHECK(cfg["lora_alpha"] == 3.0);
  CHECK(cfg["target_modules"].size() == orig.layers.size());
  CHECK(detect_layout(tmp / "p") == AdapterLayout::Peft);
  CHECK(detect_layout(tmp / "p/adapter_model.safetensors") == AdapterLayout::Peft);
  check_same(orig, read_adapter(tmp / "p"));
  check_same(orig, read_adapter(tmp / "p/adapter_model.safetensors"));
  CHECK(sample_with(tmp / "p:0.7").contiguous().to_vector() ==
        sample_with(tmp / "a.safetensors:0.7").contiguous().to_vector());

  SUBCASE("--out x.safetensors: that file, adapter_config.json beside it") {
    fs::create_directories(tmp / "f");
    save_adapter_as(tmp / "f/x.safetensors", orig, AdapterLayout::Peft);
    CHECK(fs::exists(tmp / "f/adapter_config.json"));
    CHECK(!fs::exists(tmp / "f/adapter_model.safetensors"));
    check_same(orig, read_adapter(tmp / "f/x.safetensors"));
  }
  SUBCASE("a foreign PEFT file: alpha from adapter_config.json") {
    fs::create_directories(tmp / "q");
    nn::save_safetensors(tmp / "q/adapter_model.safetensors", st.tensors);
    std::ofstream(tmp / "q/adapter_config.json") << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 6})";
    const Adapter q = read_adapter(tmp / "q");
    CHECK(q.alpha == 6.0f);
    std::ofstream(tmp / "q/adapter_config.json") << R"({"peft_type": "PREFIX_TUNING"})";
    CHECK_THROWS_WITH_AS(read_adapter(tmp / "q"), doctest::Contains("peft_type must be \"LORA\""), Error);
  }
}

TEST_CASE("an unknown layout is refused naming the three expected") {
  TempDir tmp("test-adapter-unknown");
  nn::save_safetensors(tmp / "u.safetensors", {{"model.layer.weight", Tensor::zeros({2, 2})}});
  CHECK_THROWS_WITH_AS(read_adapter(tmp / "u.safetensors"), doctest::Contains("no kohya lora_unet_* or PEFT"),
                       Error);
  CHECK_THROWS_WITH_AS(detect_layout(tmp / "u.safetensors"), doctest::Contains("expected loradiff"), Error);
  CHECK_THROWS_WITH_AS(parse_layout("onnx", "--to"), doctest::Contains("expected kohya, peft or loradiff"),
                       Error);
  fs::create_directories(tmp / "empty");
  CHECK_THROWS_WITH_AS(read_adapter(tmp / "empty"),
                       doctest::Contains("nor a PEFT adapter folder (no adapter_model.safetensors"), Error);
}
