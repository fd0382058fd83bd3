// diffusion/evaluate.h: how good are the generated digits? (`loradiff eval`)
// For each digit d the model draws n images from the prompt "a handwritten digit <d>";
// an independently trained classifier (nn/classifier.h) then gives
//   prompt accuracy = share of images the classifier reads as the prompted digit
// and its penultimate-layer features give the Frechet distance (frechet.h) between
// generated digits and real test digits, next to the real-vs-real distance of two
// disjoint halves of the test set (the floor: what "as good as real" looks like).
#pragma once
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/vocab.h"
#include "diffusion/model.h"
#include "diffusion/sampler.h"
#include "nn/classifier.h"

namespace ld::diffusion {

struct EvalOptions {
  int64_t n_per_digit = 100;
  std::vector<int> digits{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  SampleOptions sample;  // sampler, steps, guidance, seed
  int64_t batch = 100;   // images per sampling batch
  // When set, every digit's images are drawn from this caption instead of "a handwritten digit <word>"
  // (e.g. a new word of an adapter: "a handwritten digit sks" judged against --digits 9).
  std::string prompt;
};

// "a handwritten digit seven"; «рукописная цифра семь» for a model whose vocabulary has the Russian
// digit words and not the English ones (trained with --captions ru).
std::string digit_prompt(const data::Vocabulary& vocab, int digit);

struct EvalResult {
  std::vector<int> digits;
  std::vector<double> accuracy_per_digit;
  std::vector<std::array<int64_t, 10>> predicted_counts;  // per prompted digit: how often each class was seen
  double accuracy = 0;                                    // over all generated images
  double frechet = NAN, frechet_real_floor = NAN;
  int64_t n_generated = 0, n_real = 0;
  nlohmann::json to_json() const;
};

// real_images (N, 1, 28, 28) in [-1, 1] with real_labels I32 (N): the test split. Throws
// ld::Interrupted once Ctrl-C was pressed (between sampler steps and batches).
EvalResult evaluate(TextToImageModel& model, const data::Vocabulary& vocab, nn::MnistClassifier& classifier,
                    const Tensor& real_images, const Tensor& real_labels, const EvalOptions& options,
                    const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace ld::diffusion
