// sample() on a tiny random model: one seed per image (image i of a batch = the same image made alone with
// seed + i), a negative prompt of the empty caption changes nothing, img2img (strength 0 returns the init
// image, strength 1 is text-to-image with the same seed) and inpainting (the kept pixels are the init
// image's).
#include <doctest/doctest.h>

#include <cstring>

#include "diffusion/loss.h"
#include "diffusion/model.h"
#include "diffusion/sampler.h"
#include "tensor/index.h"
#include "tensor/random.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::diffusion;
using ld::test::max_abs_diff;

namespace {

struct Tiny {
  ModelConfig c;
  Generator gen{3};
  std::unique_ptr<TextToImageModel> model;
  NoiseSchedule s;
  Tiny() {
    c = load_config("mnist-t2i-tiny");
    c.vocab_size = 40;
    c.timesteps = 20;  // DDPM takes every timestep: keep the test fast
    model = std::make_unique<TextToImageModel>(c, gen);
    s = NoiseSchedule::make(c.beta_schedule, c.timesteps, c.beta_start, c.beta_end);
  }
  Tensor ids(int64_t B) const {
    Tensor t = Tensor::zeros({B, c.max_tokens}, DType::I32);
    for (int64_t b = 0; b < B; ++b) {
      t.i32()[b * c.max_tokens] = 1;
      t.i32()[b * c.max_tokens + 1] = 7;
    }
    return t;
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  Tensor x = a.contiguous(), y = b.contiguous();
  return x.shape() == y.shape() && std::memcmp(x.f32(), y.f32(), sizeof(float) * x.numel()) == 0;
}

Tensor init_image(const ModelConfig& c) {
  Generator g(9);
  Tensor x = rand_uniform({1, 1, c.image_size, c.image_size}, g);  // [0, 1)
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = 2.0f * p[i] - 1.0f;
  return x;
}

}  // namespace

TEST_CASE("image i of a batch is the image made alone with seed + i, for every sampler") {
  Tiny m;
  for (const auto& name : sampler_names()) {
    CAPTURE(name);
    SampleOptions o;
    o.sampler = name;
    o.steps = 4;
    o.seed = 40;
    const Tensor both = sample(*m.model, m.s, m.ids(2), o);
    o.seed = 41;
    const Tensor second = sample(*m.model, m.s, m.ids(1), o);
    CHECK(max_abs_diff(both.narrow(0, 1, 1), second) < 1e-4);  // the same up to the BLAS's batch rounding
    CHECK(max_abs_diff(both.narrow(0, 0, 1), second) > 1e-2);  // and not the same as image 0
  }
}

TEST_CASE(
    "a negative prompt: the empty caption gives today's images bit for bit, another caption changes them") {
  Tiny m;
  SampleOptions o;
  o.steps = 3;
  o.seed = 5;
  const Tensor plain = sample(*m.model, m.s, m.ids(2), o);
  o.negative_ids = empty_captions(1, m.c.max_tokens);
  CHECK(same_bits(sample(*m.model, m.s, m.ids(2), o), plain));
  Tensor neg = empty_captions(1, m.c.max_tokens);
  neg.i32()[1] = 12;
  o.negative_ids = neg;
  CHECK(max_abs_diff(sample(*m.model, m.s, m.ids(2), o), plain) > 1e-3);
}

TEST_CASE("img2img: strength 0 returns the init image, strength 1 is text-to-image with the same seed") {
  Tiny m;
  const Tensor init = init_image(m.c);
  for (const auto& name : sampler_names()) {
    CAPTURE(name);
    SampleOptions o;
    o.sampler = name;
    o.steps = 6;
    o.seed = 17;
    const Tensor t2i = sample(*m.model, m.s, m.ids(2), o);
    o.init = init;
    o.strength = 0.0f;
    const Tensor s0 = sample(*m.model, m.s, m.ids(2), o);
    CHECK(same_bits(s0.narrow(0, 0, 1), init));
    CHECK(same_bits(s0.narrow(0, 1, 1), init));
    o.strength = 1.0f;
    CHECK(same_bits(sample(*m.model, m.s, m.ids(2), o), t2i));
    o.strength = 0.5f;
    int64_t calls = 0;
    o.on_step = [&](const SampleStep&) { ++calls; };
    const Tensor half = sample(*m.model, m.s, m.ids(2), o);
    CHECK(calls == sample_step_count(o, m.s));
    CHECK(calls == (name == "ddpm" ? m.s.T() / 2 : 3));
    // halfway: the init image is changed, but not from scratch
    CHECK(max_abs_diff(half, concat({init, init}, 0)) > 1e-3);
  }
}

TEST_CASE("inpainting keeps the unmasked pixels of the init image exactly and regenerates the rest") {
  Tiny m;
  const Tensor init = init_image(m.c);
  Tensor mask = Tensor::zeros(init.shape());
  for (int64_t y = 8; y < 20; ++y)
    for (int64_t x = 0; x < m.c.image_size; ++x) mask.f32()[y * m.c.image_size + x] = 1.0f;
  for (const auto& name : sampler_names()) {
    CAPTURE(name);
    SampleOptions o;
    o.sampler = name;
    o.steps = 5;
    o.seed = 3;
    o.init = init;
    o.mask = mask;
    for (float strength : {1.0f, 0.6f}) {
      o.strength = strength;
      const Tensor out = sample(*m.model, m.s, m.ids(2), o);
      int64_t changed = 0;
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t i = 0; i < init.numel(); ++i) {
          const float got = out.f32()[b * init.numel() + i], want = init.f32()[i];
          if (mask.f32()[i] == 0.0f) {
            REQUIRE(got == want);
          } else {
            changed += got != want;
          }
        }
      CHECK(changed > 100);
    }
  }
  SampleOptions bad;
  bad.steps = 4;
  bad.mask = mask;
  CHECK_THROWS_WITH_AS(sample(*m.model, m.s, m.ids(1), bad),
                       doctest::Contains("--mask: inpainting needs --init-image"), Error);
  bad = SampleOptions();
  bad.steps = 4;
  bad.init = Tensor::zeros({1, 1, 5, 5});
  CHECK_THROWS_WITH_AS(sample(*m.model, m.s, m.ids(1), bad), doctest::Contains("the init image is (1,1,5,5)"),
                       Error);
}
