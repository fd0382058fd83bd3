// diffusion/evaluate.cpp: `loradiff eval`: prompt accuracy per digit and the Frechet distance on
// classifier features, with the real-vs-real floor (claim C5 is measured with it).
#include "diffusion/evaluate.h"

#include "data/captions.h"
#include "data/tokenizer.h"
#include "diffusion/frechet.h"
#include "tensor/index.h"
#include "tensor/interrupt.h"

namespace ld::diffusion {

nlohmann::json EvalResult::to_json() const {
  nlohmann::json per;
  for (size_t i = 0; i < digits.size(); ++i)
    per[std::to_string(digits[i])] = {{"accuracy", accuracy_per_digit[i]}, {"predicted", predicted_counts[i]}};
  return {{"prompt_accuracy", accuracy},
          {"per_digit", per},
          {"frechet_distance", frechet},
          {"frechet_real_vs_real", frechet_real_floor},
          {"n_generated", n_generated},
          {"n_real", n_real}};
}

// Up to `per_class` real images of each digit in `digits`, taken from the front (first) or back half.
static Tensor real_subset(const Tensor& images, const Tensor& labels, const std::vector<int>& digits,
                          int64_t per_class, bool first_half) {
  std::vector<Tensor> picked;
  std::vector<int32_t> lab = labels.to_ints();
  for (int d : digits) {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < static_cast<int64_t>(lab.size()); ++i)
      if (lab[i] == d) idx.push_back(i);
    const int64_t half = static_cast<int64_t>(idx.size()) / 2;
    const int64_t start = first_half ? 0 : half, take = std::min(per_class, half);
    for (int64_t k = 0; k < take; ++k) picked.push_back(images.narrow(0, idx[start + k], 1));
  }
  if (picked.size() < 2) fail("eval: the test split has too few digits of the evaluated classes");
  return concat(picked, 0);
}

std::string digit_prompt(const data::Vocabulary& vocab, int digit) {
  if (!vocab.contains(data::digit_word(digit)) && vocab.contains(data::digit_word_ru(digit)))
    return std::string("рукописная цифра ") + data::digit_word_ru(digit);  // a --captions ru model
  return std::string("a handwritten digit ") + data::digit_word(digit);
}

EvalResult evaluate(TextToImageModel& model, const data::Vocabulary& vocab, nn::MnistClassifier& classifier,
                    const Tensor& real_images, const Tensor& real_labels, const EvalOptions& o,
                    const std::function<void(int64_t, int64_t)>& progress) {
  if (o.n_per_digit < 2) fail("--n-per-digit: ", o.n_per_digit, " must be >= 2");
  if (o.digits.empty()) fail("--digits: no digit to evaluate");
  const ModelConfig& c = model.config;
  NoiseSchedule s = NoiseSchedule::make(c.beta_schedule, c.timesteps, c.beta_start, c.beta_end);
  EvalResult r;
  r.digits = o.digits;
  std::vector<Tensor> generated;
  int64_t correct_total = 0, done = 0;
  const int64_t total = o.n_per_digit * static_cast<int64_t>(o.digits.size());
  for (size_t di = 0; di < o.digits.size(); ++di) {
    const int d = o.digits[di];
    if (d < 0 || d > 9) fail("--digits: ", d, " is not a digit 0-9");
    const std::string prompt = o.prompt.empty() ? digit_prompt(vocab, d) : o.prompt;
    std::array<int64_t, 10> counts{};
    for (int64_t b0 = 0; b0 < o.n_per_digit; b0 += o.batch) {
      throw_if_interrupted();  // the sampler checks every step too
      const int64_t nb = std::min(o.batch, o.n_per_digit - b0);
      SampleOptions so = o.sample;
      so.seed = o.sample.seed + 1000003ull * static_cast<uint64_t>(d) + static_cast<uint64_t>(b0);
      Tensor ids = data::tokenize_batch(vocab, std::vector<std::string>(nb, prompt)).ids;
      Tensor imgs = sample(model, s, ids, so);
      std::vector<int32_t> pred = nn::classifier_predict(classifier, imgs).to_ints();
      for (int32_t p : pred) ++counts[p];
      generated.push_back(imgs);
      done += nb;
      if (progress) progress(done, total);
    }
    r.predicted_counts.push_back(counts);
    r.accuracy_per_digit.push_back(static_cast<double>(counts[d]) / static_cast<double>(o.n_per_digit));
    correct_total += counts[d];
  }
  r.n_generated = total;
  r.accuracy = static_cast<double>(correct_total) / static_cast<double>(total);
  Tensor gen_all = concat(generated, 0);
  Tensor real_a = real_subset(real_images, real_labels, o.digits, o.n_per_digit, true);
  Tensor real_b = real_subset(real_images, real_labels, o.digits, o.n_per_digit, false);
  r.n_real = real_a.size(0);
  Tensor fa = nn::classifier_features(classifier, real_a), fb = nn::classifier_features(classifier, real_b);
  Tensor fg = nn::classifier_features(classifier, gen_all);
  r.frechet = frechet_distance(fg, fa);
  r.frechet_real_floor = frechet_distance(fb, fa);
  return r;
}

}  // namespace ld::diffusion
