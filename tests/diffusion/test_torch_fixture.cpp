// eps_theta(x_t, t, y) of our mnist-t2i-tiny against an independent PyTorch implementation
// (tools/torch_model.py), as llm.c checks its GPT-2 against PyTorch: the fixture
// tests/fixtures/mnist_t2i_tiny_torch.safetensors holds random PyTorch weights (norm gammas and
// betas randomised too, so no layer is an identity), inputs, PyTorch's output and the gradients
// of loss = sum(eps * R) for a parameter of every kind of layer. Regenerate it with
//   /usr/bin/python3 tools/torch_model.py --make-fixture tests/fixtures/mnist_t2i_tiny_torch.safetensors
//
// The other direction (a checkpoint written by loradiff loads into PyTorch and gives the same
// eps_theta) is the last test case: with LORADIFF_TORCH_CROSSCHECK_OUT=FILE it writes a mnist-t2i
// checkpoint with our own init, inputs and our outputs to FILE, for
//   /usr/bin/python3 tools/torch_model.py --check FILE
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "data/shapes.h"
#include "data/vocab.h"
#include "diffusion/model.h"
#include "lora/adapter_file.h"
#include "lora/adapter_formats.h"
#include "lora/attach.h"
#include "nn/checkpoint.h"

using namespace ld;
using namespace ld::diffusion;

namespace {

const char* kFixture = LORADIFF_SOURCE_DIR "/tests/fixtures/mnist_t2i_tiny_torch.safetensors";
// the same for the colour layout, regenerated with
//   /usr/bin/python3 tools/torch_model.py --make-fixture tests/fixtures/shapes_t2i_tiny_torch.safetensors
//       --fixture-config shapes-t2i-tiny
const char* kColourFixture = LORADIFF_SOURCE_DIR "/tests/fixtures/shapes_t2i_tiny_torch.safetensors";

float max_abs(const Tensor& a) {
  Tensor c = a.contiguous();
  float m = 0.0f;
  for (int64_t i = 0; i < c.numel(); ++i) m = std::max(m, std::fabs(c.f32()[i]));
  return m;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  Tensor ca = a.contiguous(), cb = b.contiguous();
  float m = 0.0f;
  for (int64_t i = 0; i < ca.numel(); ++i) m = std::max(m, std::fabs(ca.f32()[i] - cb.f32()[i]));
  return m;
}

// The fixture split into the model's weights and the rest (input.*, output.*, grad.*).
struct Fixture {
  nn::SafeTensors file;
  nn::StateDict weights, extras;
  ModelConfig config;
};

// kFixture (mnist-t2i-tiny, grey) or kColourFixture (shapes-t2i-tiny, 32x32x3, the shapes vocabulary)
Fixture load_fixture(const char* path = kFixture, const std::string& config = "mnist-t2i-tiny") {
  Fixture f;
  f.file = nn::load_safetensors(path);
  for (auto& [name, t] : f.file.tensors) {
    const bool weight = name.rfind("text.", 0) == 0 || name.rfind("unet.", 0) == 0;
    (weight ? f.weights : f.extras)[name] = t;
  }
  f.config = load_config(config);
  f.config.vocab_size = f.weights.at("text.tok_emb.weight").size(0);
  return f;
}

// |ours - torch| <= 1e-4 max(1, max |torch|)
void check_close(const std::string& what, const Tensor& ours, const Tensor& ref) {
  const float d = max_abs_diff(ours, ref), scale = std::max(1.0f, max_abs(ref));
  INFO(what, ": max |loradiff - torch| = ", d, ", max |torch| = ", max_abs(ref));
  CHECK(d <= 1e-4f * scale);
  if (std::getenv("LORADIFF_VERBOSE")) MESSAGE(what, ": max |loradiff - torch| = ", d, ", max |torch| = ", max_abs(ref));
}

}  // namespace

TEST_CASE("the fixture is mnist-t2i-tiny with the project's vocabulary, written by PyTorch") {
  Fixture f = load_fixture();
  CHECK(f.file.metadata.at("format") == "loradiff");
  auto cfg = nlohmann::json::parse(f.file.metadata.at("config"));
  CHECK(cfg.at("name") == "mnist-t2i-tiny");
  CHECK(cfg.at("vocab_size").get<int64_t>() == data::Vocabulary::builtin().size());
  CHECK(f.config.vocab_size == data::Vocabulary::builtin().size());
  // our config read back from the fixture's metadata agrees with the built-in one
  ModelConfig from_meta = ModelConfig::from_json(cfg, "fixture");
  CHECK(from_meta.channels == f.config.channels);
  CHECK(from_meta.text_dim == f.config.text_dim);
}

// eps_theta of the fixture's PyTorch weights against PyTorch's output; a changed gamma must be seen.
void check_eps(const Fixture& f) {
  Generator gen(0);
  TextToImageModel model(f.config, gen);
  model.load_state_dict(f.weights, /*strict=*/true);  // every name and shape as PyTorch's state_dict
  model.eval();
  const Tensor& ids = f.extras.at("input.ids");
  REQUIRE(ids.dtype() == DType::I32);
  REQUIRE(ids.shape() == Shape{2, 16});
  ag::Var eps = model.forward(ag::Var(f.extras.at("input.x_t")), f.extras.at("input.t"), ids);
  const Tensor& ref = f.extras.at("output.eps");
  CHECK(max_abs(ref) > 0.5f);  // a real signal, not a near-zero output where anything matches
  check_close("eps_theta", eps.value(), ref);

  SUBCASE("and the check fails when one gamma is off (the comparison can tell)") {
    nn::StateDict w = f.weights;
    Tensor g = w.at("unet.out_norm.weight").contiguous().clone();
    g.f32()[0] += 0.05f;
    w["unet.out_norm.weight"] = g;
    model.load_state_dict(w);
    ag::Var e2 = model.forward(ag::Var(f.extras.at("input.x_t")), f.extras.at("input.t"), ids);
    CHECK(max_abs_diff(e2.value(), ref) > 1e-3f);
  }
}

// d/dparams sum(eps * R) against PyTorch's grad.* tensors.
void check_gradients(const Fixture& f) {
  Generator gen(0);
  TextToImageModel model(f.config, gen);
  model.load_state_dict(f.weights, true);
  model.eval();
  ag::Var eps = model.forward(ag::Var(f.extras.at("input.x_t")), f.extras.at("input.t"), f.extras.at("input.ids"));
  eps.backward(f.extras.at("input.R"));  // d/dparams sum(eps * R)
  int checked = 0;
  for (auto& [name, p] : model.named_parameters()) {
    auto it = f.extras.find("grad." + name);
    if (it == f.extras.end()) continue;
    REQUIRE_MESSAGE(p.grad().defined(), name);
    check_close("grad " + name, p.grad(), it->second);
    ++checked;
  }
  CHECK(checked >= 20);  // a parameter of every kind of layer, text encoder to out_conv
}

TEST_CASE("eps_theta of PyTorch's weights matches PyTorch's output to 1e-4") { check_eps(load_fixture()); }

TEST_CASE("backward through the whole model matches PyTorch's gradients") { check_gradients(load_fixture()); }

TEST_CASE("colour (shapes-t2i-tiny, 32x32x3): eps_theta and its gradients match PyTorch's") {
  Fixture f = load_fixture(kColourFixture, "shapes-t2i-tiny");
  auto cfg = nlohmann::json::parse(f.file.metadata.at("config"));
  CHECK(cfg.at("name") == "shapes-t2i-tiny");
  CHECK(nlohmann::json::parse(f.file.metadata.at("vocab")).get<std::vector<std::string>>() ==
        data::shapes_vocabulary().words());
  REQUIRE(f.config.image_channels == 3);
  REQUIRE(f.extras.at("input.x_t").shape() == (Shape{2, 3, 32, 32}));
  SUBCASE("eps_theta") { check_eps(f); }
  SUBCASE("gradients") { check_gradients(f); }
}

TEST_CASE("a mnist-t2i checkpoint written by loradiff, for tools/torch_model.py --check") {
  const char* out = std::getenv("LORADIFF_TORCH_CROSSCHECK_OUT");
  if (!out) return;  // only on demand: docs/torch_crosscheck.md
  ModelConfig cfg = load_config("mnist-t2i");
  cfg.vocab_size = data::Vocabulary::builtin().size();
  Generator gen(7);
  TextToImageModel model(cfg, gen);
  // our init leaves norms at 1 / 0: move them off, as the PyTorch fixture does
  for (auto& [name, p] : model.named_parameters()) {
    const bool norm = name.find(".ln") != std::string::npos || name.find("norm") != std::string::npos;
    if (!norm) continue;
    Tensor v = p.value();
    Tensor r = rand_normal(v.shape(), gen);
    for (int64_t i = 0; i < v.numel(); ++i)
      v.f32()[i] = (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 ? 1.0f : 0.0f) +
                   0.2f * r.f32()[i];
  }
  model.eval();
  Tensor x = rand_normal({3, 1, 28, 28}, gen);
  Tensor t = Tensor::from_ints({0, 411, 999}, {3});
  const auto& vocab = data::Vocabulary::builtin();
  Tensor ids = Tensor::zeros({3, 16}, DType::I32);
  std::vector<std::vector<std::string>> caps = {{}, {"a", "handwritten", "digit", "seven"},
                                                {"a", "thick", "slanted", "digit", "two", "left"}};
  for (int b = 0; b < 3; ++b) {
    ids.i32()[b * 16] = data::kBosId;
    for (size_t i = 0; i < caps[b].size(); ++i) ids.i32()[b * 16 + 1 + i] = vocab.id(caps[b][i]);
  }
  Tensor R = rand_normal(x.shape(), gen);
  ag::Var eps = model.forward(ag::Var(x), t, ids);
  eps.backward(R);
  nn::StateDict dict = model.state_dict();
  dict["input.x_t"] = x;
  dict["input.t"] = t;
  dict["input.ids"] = ids;
  dict["input.R"] = R;
  dict["output.eps"] = eps.value();
  for (auto& [name, p] : model.named_parameters())
    if (name == "text.tok_emb.weight" || name == "unet.conv_in.weight" ||
        name == "unet.down1.attn.cross_attn.to_k.weight" || name == "unet.mid.res1.norm1.weight" ||
        name == "unet.up2.res.skip.weight" || name == "unet.out_conv.bias")
      dict["grad." + name] = p.grad();
  nlohmann::json words = vocab.words();
  nn::save_safetensors(out, dict,
                       {{"format", "loradiff"}, {"config", cfg.to_json().dump()}, {"vocab", words.dump()}});
  MESSAGE("wrote ", out);
}

// The PyTorch twin with a LoRA adapter (Eq. (LoRA), W' = W + w (alpha / r) B A, applied unmerged by
// forward hooks there): tests/fixtures/mnist_t2i_tiny_torch_lora.safetensors holds an adapter in
// loradiff's layout for the fixture's weights and PyTorch's eps_theta with it at weight 0.7. Regenerate with
//   /usr/bin/python3 tools/torch_model.py --make-lora-fixture tests/fixtures/mnist_t2i_tiny_torch_lora.safetensors
TEST_CASE("eps_theta with a LoRA adapter at weight 0.7 matches PyTorch's to 1e-5") {
  const char* kLoraFixture = LORADIFF_SOURCE_DIR "/tests/fixtures/mnist_t2i_tiny_torch_lora.safetensors";
  Fixture f = load_fixture();
  nn::SafeTensors lf = nn::load_safetensors(kLoraFixture);
  const Tensor ref = lf.tensors.at("output.eps");
  lf.tensors.erase("output.eps");  // the rest is the adapter file's contents
  const lora::Adapter adapter = lora::adapter_from_safetensors(kLoraFixture, lf);
  REQUIRE(adapter.layers.size() == 45);  // UNet and text attention projections, and one conv
  Generator gen(0);
  TextToImageModel model(f.config, gen);
  model.load_state_dict(f.weights, true);
  model.eval();
  ag::NoGrad ng;
  auto eps_of = [&] {
    return model.forward(ag::Var(f.extras.at("input.x_t")), f.extras.at("input.t"), f.extras.at("input.ids"))
        .value();
  };
  const Tensor base = eps_of();
  lora::load_adapter(model, adapter, 0.7f, "torch");
  const Tensor eps = eps_of();
  REQUIRE(max_abs_diff(base, ref) > 0.1f);  // the adapter matters, else nothing is tested
  const float d = max_abs_diff(eps, ref), scale = std::max(1.0f, max_abs(ref));
  INFO("eps_theta with the adapter: max |loradiff - torch| = ", d, ", max |torch| = ", max_abs(ref));
  if (std::getenv("LORADIFF_VERBOSE")) MESSAGE("with LoRA at 0.7: max |loradiff - torch| = ", d);
  CHECK(d <= 1e-5f * scale);
  SUBCASE("at another weight it does not match (the comparison can tell)") {
    lora::set_adapter_weight(model, "torch", 0.75f);
    CHECK(max_abs_diff(eps_of(), ref) > 1e-3f);
  }
}
