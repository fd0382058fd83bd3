// tests/diffusion/test_trace.cpp: the denoising trajectory (diffusion/trace.h, sampler.h's on_step): every
// step is reported once with its timestep, x0_hat is the clipped prediction of the clean image, the
// recorded steps include the first and the last, and the trace's last column is the sampled result.
#include <doctest/doctest.h>

#include "data/tokenizer.h"
#include "data/vocab.h"
#include "diffusion/ddim.h"
#include "diffusion/model_io.h"
#include "diffusion/trace.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/random.h"

using namespace ld;
using namespace ld::diffusion;

TEST_CASE("trace: steps chosen evenly, first and last included") {
  CHECK(TraceRecorder(50, 5, 1).steps() == std::vector<int64_t>{0, 12, 24, 36, 49});
  CHECK(TraceRecorder(3, 8, 1).steps() == std::vector<int64_t>{0, 1, 2});
  CHECK(TraceRecorder(10, 1, 1).steps() == std::vector<int64_t>{9});
  CHECK_THROWS(TraceRecorder(10, 0, 1));
}

TEST_CASE("predict_x0 inverts q_sample (x_t = sqrt(ab) x0 + sqrt(1 - ab) eps) and clips") {
  const NoiseSchedule s = NoiseSchedule::make("linear", 1000, 1e-4, 0.02);
  Generator g(3);
  const Tensor x0 = rand_uniform({2, 1, 4, 4}, g, -0.9f, 0.9f), eps = rand_normal({2, 1, 4, 4}, g);
  const int64_t t = 300;
  const float a = static_cast<float>(std::sqrt(s.alphabar[t])),
              b = static_cast<float>(std::sqrt(1 - s.alphabar[t]));
  const Tensor xt = add(mul_scalar(x0, a), mul_scalar(eps, b));
  const auto back = predict_x0(s, xt, eps, t).to_vector(), want = x0.to_vector();
  for (size_t i = 0; i < want.size(); ++i) CHECK(back[i] == doctest::Approx(want[i]).epsilon(1e-4));
  for (float v : predict_x0(s, mul_scalar(xt, 100.0f), eps, t).to_vector()) CHECK(std::abs(v) <= 1.0f);
}

TEST_CASE("sample reports every step; the trace's rows end with the sampled images") {
  const data::Vocabulary& vocab = data::Vocabulary::builtin();
  auto model = build_model(load_config("mnist-t2i-tiny"), vocab, 0);
  const ModelConfig& c = model->config;
  const NoiseSchedule s = NoiseSchedule::make(c.beta_schedule, c.timesteps, c.beta_start, c.beta_end);
  // two prompts x two images each: rows are images 0 and 2
  const Tensor ids = data::tokenize_batch(vocab, {"a handwritten digit one", "a handwritten digit one",
                                                  "a handwritten digit two", "a handwritten digit two"})
                         .ids;
  SampleOptions so;
  so.steps = 6;
  TraceRecorder rec(so.steps, 3, 2);
  std::vector<int64_t> seen_t;
  so.on_step = [&](const SampleStep& st) {
    CHECK(st.total == 6);
    CHECK(st.index == static_cast<int64_t>(seen_t.size()));
    for (float v : st.x0_hat.to_vector()) CHECK(std::abs(v) <= 1.0f);
    seen_t.push_back(st.t);
    rec.record(st, 0);
  };
  const Tensor imgs = sample(*model, s, ids, so);
  CHECK(seen_t == ddim_timesteps(c.timesteps, 6));
  int64_t rows = 0, cols = 0;
  const Tensor cells = rec.grid(imgs, rows, cols);
  CHECK(rows == 2);
  CHECK(cols == 2 * 3 + 1);
  CHECK(cells.size(0) == rows * cols);
  CHECK(cells.select(0, cols - 1).to_vector() == imgs.select(0, 0).to_vector());
  CHECK(cells.select(0, 2 * cols - 1).to_vector() == imgs.select(0, 2).to_vector());
  // the same seed without the trace gives the same images: recording changes nothing
  SampleOptions plain = so;
  plain.on_step = nullptr;
  CHECK(sample(*model, s, ids, plain).to_vector() == imgs.to_vector());
}
