// The mnist-t2i model is built layer for layer as docs/reference-model.md says:
// names and shapes of its parameters, forward shapes, a loss that falls.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "autograd/ops.h"
#include "diffusion/loss.h"
#include "diffusion/model.h"
#include "nn/adam.h"

using namespace ld;
using namespace ld::diffusion;

static ModelConfig config(const std::string& name, int64_t vocab = 40) {
  ModelConfig c = load_config(name);
  c.vocab_size = vocab;
  return c;
}

TEST_CASE("mnist-t2i has the reference model's parameter names and shapes") {
  Generator gen(0);
  TextToImageModel model(config("mnist-t2i"), gen);
  std::map<std::string, Shape> shapes;
  for (auto& [name, v] : model.named_parameters()) shapes[name] = v.shape();
  CHECK(shapes.at("unet.down1.attn.cross_attn.to_k.weight") == Shape{64, 64});
  CHECK(shapes.at("unet.up2.res.skip.weight") == Shape{128, 256, 1, 1});
  CHECK(shapes.at("text.tok_emb.weight") == Shape{40, 64});
  CHECK(shapes.at("text.pos_emb.weight") == Shape{16, 64});
  CHECK(shapes.at("unet.time_mlp.fc1.weight") == Shape{128, 32});
  CHECK(shapes.at("unet.conv_in.weight") == Shape{32, 1, 3, 3});
  CHECK(shapes.at("unet.out_conv.weight") == Shape{1, 32, 3, 3});
  CHECK(shapes.at("unet.mid.attn.ff.fc1.weight") == Shape{512, 128});
  CHECK(shapes.at("unet.down0.downsample.conv.weight") == Shape{32, 32, 3, 3});
  CHECK(shapes.at("unet.up1.upsample.conv.weight") == Shape{64, 64, 3, 3});
  CHECK(shapes.at("text.layers.1.attn.to_out.bias") == Shape{64});
  CHECK(shapes.at("unet.up0.res.skip.weight") == Shape{32, 96, 1, 1});
  // UNet attention: q, k, v without bias; to_out with bias. Text attention: all with bias.
  CHECK(shapes.count("unet.down1.attn.self_attn.to_q.bias") == 0);
  CHECK(shapes.count("unet.down1.attn.self_attn.to_out.bias") == 1);
  CHECK(shapes.count("text.layers.0.attn.to_q.bias") == 1);
  // no skip conv where cin == cout
  CHECK(shapes.count("unet.down0.res.skip.weight") == 0);
  CHECK(shapes.count("unet.mid.res1.skip.weight") == 0);
  // every block named in the reference exists
  std::set<std::string> prefixes;
  for (auto& [name, s] : shapes) prefixes.insert(name);
  for (const char* block : {"unet.down0.res", "unet.down1.res", "unet.down1.attn", "unet.down2.res",
                            "unet.down2.attn", "unet.mid.res1", "unet.mid.attn", "unet.mid.res2", "unet.up2.res",
                            "unet.up2.attn", "unet.up1.res", "unet.up1.attn", "unet.up0.res", "unet.out_norm",
                            "text.ln_final", "text.layers.0.ff.fc1", "unet.down2.attn.proj_in",
                            "unet.down2.attn.ln3", "unet.down2.attn.proj_out"}) {
    bool found = false;
    for (auto& n : prefixes) found = found || n.rfind(std::string(block) + ".", 0) == 0;
    CHECK_MESSAGE(found, block);
  }
}

TEST_CASE("eps_theta(x_t, t, y) has the shape of x_t; bad inputs are named") {
  Generator gen(1);
  TextToImageModel model(config("mnist-t2i-tiny"), gen);
  Tensor x = rand_normal({2, 1, 28, 28}, gen);
  Tensor t = Tensor::from_ints({5, 900}, {2});
  Tensor ids = Tensor::zeros({2, 16}, DType::I32);
  ids.i32()[0] = 1;
  ids.i32()[16] = 1;
  ids.i32()[17] = 7;
  ag::Var eps = model.forward(ag::Var(x), t, ids);
  CHECK(eps.shape() == Shape{2, 1, 28, 28});
  CHECK_THROWS_WITH_AS(model.forward(ag::Var(x), t, Tensor::zeros({2, 8}, DType::I32)),
                       doctest::Contains("token ids (2,8) must be (batch, 16)"), Error);
  CHECK_THROWS_AS(model.forward(ag::Var(x), Tensor::from_ints({1}, {1}), ids), Error);
}

TEST_CASE("loss (1) falls when the tiny model trains on one fixed batch") {
  Generator gen(2);
  TextToImageModel model(config("mnist-t2i-tiny"), gen);
  Tensor x0 = Tensor::full({4, 1, 28, 28}, -1.0f);
  for (int b = 0; b < 4; ++b)
    for (int i = 8; i < 20; ++i) x0.f32()[b * 784 + i * 28 + 14] = 1.0f;  // a vertical stroke
  Tensor ids = Tensor::zeros({4, 16}, DType::I32);
  for (int b = 0; b < 4; ++b) ids.i32()[b * 16] = 1;
  NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  nn::AdamW opt(model.named_parameters(), 2e-3f);
  auto mean_loss = [&](uint64_t seed) {
    ag::NoGrad ng;
    Generator g(seed);
    double l = 0;
    for (int k = 0; k < 4; ++k) l += diffusion_loss(model, s, x0, ids, 0.0f, g).value().item();
    return l / 4;
  };
  double before = mean_loss(99);
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    ag::Var loss = diffusion_loss(model, s, x0, ids, 0.1f, gen);
    loss.backward();
    opt.step();
  }
  double after = mean_loss(99);
  CHECK(after < 0.8 * before);
}
