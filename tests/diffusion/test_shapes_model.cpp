// The shapes configs (configs/shapes-t2i*.json): built in, 32x32x3; the tiny one trains (loss falls on
// one batch of generated shapes) and samples colour images that the rule-based judge can read; the
// judge over a batch of tensors scores the generator's own images as exact.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "data/png.h"
#include "data/shapes.h"
#include "data/tokenizer.h"
#include "diffusion/loss.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "diffusion/shapes_eval.h"
#include "nn/adam.h"
#include "tensor/index.h"

using namespace ld;
using namespace ld::diffusion;

namespace {

data::Vocabulary shapes_vocab() { return data::shapes_vocabulary(); }

}  // namespace

TEST_CASE("the shapes configs are built in: the reference layout at 32x32x3") {
  for (const char* name : {"shapes-t2i", "shapes-t2i-small", "shapes-t2i-tiny"}) {
    const ModelConfig c = load_config(name);
    CHECK(c.image_size == 32);
    CHECK(c.image_channels == 3);
    CHECK(c.name == name);
    // eps-prediction trained the noisiest steps too weakly: the colour of the background went astray
    CHECK(c.prediction_type == "v_prediction");
  }
  const ModelConfig ref = load_config("shapes-t2i"), mnist = load_config("mnist-t2i");
  CHECK(ref.channels == mnist.channels);
  CHECK(ref.text_dim == mnist.text_dim);
  const auto names = builtin_config_names();
  CHECK(std::find(names.begin(), names.end(), "shapes-t2i-tiny") != names.end());
}

TEST_CASE("shapes-t2i-tiny: forward/backward on generated shapes, loss falls, samples are RGB") {
  const data::Vocabulary vocab = shapes_vocab();
  auto model = build_model(load_config("shapes-t2i-tiny"), vocab, 3);
  data::ShapesOptions opt;
  std::vector<Tensor> imgs;
  std::vector<std::string> caps;
  for (int64_t i = 0; i < 4; ++i) {
    const data::ShapeScene s = data::make_shape_scene(1, i, opt);
    imgs.push_back(data::tensor_from_image(data::render_scene(s)).reshape({1, 3, 32, 32}));
    caps.push_back(data::scene_caption(s));
  }
  const Tensor x0 = concat(imgs, 0);
  const data::TokenBatch tb = data::tokenize_batch(vocab, caps);
  for (const auto& w : tb.warnings) FAIL(w);  // every word of the grammar is in the vocabulary
  NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  nn::AdamW adam(model->named_parameters(), 2e-3f);
  Generator gen(5);
  auto mean_loss = [&] {
    ag::NoGrad ng;
    Generator g(99);
    double l = 0;
    for (int k = 0; k < 4; ++k) l += diffusion_loss(*model, s, x0, tb.ids, 0.0f, g).value().item();
    return l / 4;
  };
  const double before = mean_loss();
  for (int step = 0; step < 20; ++step) {
    adam.zero_grad();
    ag::Var loss = diffusion_loss(*model, s, x0, tb.ids, 0.1f, gen);
    loss.backward();
    if (step == 0)
      for (auto& [name, p] : model->named_parameters()) {
        INFO(name);
        REQUIRE(p.grad().defined());
        const Tensor g = p.grad().contiguous();
        bool finite = true;
        for (int64_t k = 0; k < g.numel(); ++k) finite &= std::isfinite(g.f32()[k]);
        CHECK(finite);
      }
    adam.step();
  }
  CHECK(mean_loss() < 0.9 * before);
  // sampling: (N, 3, 32, 32), written as an RGB grid PNG
  SampleOptions so;
  so.steps = 2;
  so.seed = 1;
  const Tensor out = sample(*model, s, tb.ids, so);
  CHECK(out.shape() == Shape{4, 3, 32, 32});
  const std::string png = data::encode_png(data::make_grid_rgb(out, 2, 2, 2));
  CHECK(static_cast<uint8_t>(png[25]) == 2);  // IHDR colour type 2: truecolour RGB
  const data::RgbImage back = data::decode_png_rgb(png, "grid");
  CHECK(back.width == 2 * 64 + 1);
}

TEST_CASE("judge_shapes_batch: the generator's images are exact, seen and excluded are scored apart") {
  data::ShapesOptions opt;
  opt.two_shape_fraction = 0.5;
  std::vector<Tensor> imgs;
  std::vector<std::string> caps;
  for (int64_t i = 0; i < 30; ++i) {
    const data::ShapeScene s = data::make_shape_scene(2, i, opt);
    imgs.push_back(data::tensor_from_image(data::render_scene(s)).reshape({1, 3, 32, 32}));
    caps.push_back(data::scene_caption(s));
  }
  const auto exclude = data::parse_shape_exclusions({"circle"}, "--exclude");
  const ShapesEvalResult r = judge_shapes_batch(concat(imgs, 0), caps, exclude);
  CHECK(r.all.exact.total == 30);
  CHECK(r.all.exact.right == 30);
  CHECK(r.seen.exact.total + r.unseen.exact.total == 30);
  CHECK(r.unseen.exact.total > 0);
  for (size_t i = 0; i < caps.size(); ++i)
    CHECK(r.excluded[i] == (caps[i].find("circle") != std::string::npos));
  const nlohmann::json j = r.to_json();
  CHECK(j["all"]["exact"] == 1.0);
  CHECK(j["images"].size() == 30);
  CHECK(j["excluded"]["n"] == r.unseen.exact.total);
  // prompts drawn from the grammar: deterministic in the seed, all parse
  const auto p1 = shapes_eval_prompts(7, 20, 0.0), p2 = shapes_eval_prompts(7, 20, 0.0);
  CHECK(p1 == p2);
  CHECK(p1 != shapes_eval_prompts(8, 20, 0.0));
  for (const auto& p : p1) CHECK(data::parse_shapes_caption(p).objects.size() == 1);
}
