// diffusion/shapes_eval.h: `loradiff eval --dataset shapes`: generate one image per caption of the shapes
// grammar (data/shapes.h) and judge each by rule (colour segmentation, components, shape features,
// centroid cell, box size): per-attribute accuracy and exact match, overall and separately for the
// captions that name an excluded colour-shape pair (unseen in training) and the others.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/shapes.h"
#include "data/vocab.h"
#include "diffusion/model.h"
#include "diffusion/sampler.h"

namespace ld::diffusion {

// n captions drawn from the grammar with `seed`: caption i is two-shape with probability
// two_shape_fraction; all combinations (excluded ones too) are drawn.
std::vector<std::string> shapes_eval_prompts(uint64_t seed, int64_t n, double two_shape_fraction);

struct ShapesEvalOptions {
  SampleOptions sample;  // sampler, steps, guidance; image i uses seed + i
  int64_t batch = 64;
  data::ShapeExclusions exclude;  // which captions count as "excluded"
};

struct ShapesEvalResult {
  std::vector<std::string> prompts;
  std::vector<data::ShapesJudgement> judgements;
  std::vector<bool> excluded;
  data::ShapesScore all, seen, unseen;
  nlohmann::json to_json() const;  // accuracies (and counts) per group; per-prompt judgements
};

// Every prompt is parsed first (a caption outside the grammar is an error naming it, before any
// sampling). The model must make 3-channel images. Throws ld::Interrupted after Ctrl-C.
ShapesEvalResult evaluate_shapes(TextToImageModel& model, const data::Vocabulary& vocab,
                                 const std::vector<std::string>& prompts, const ShapesEvalOptions& options,
                                 const std::function<void(int64_t, int64_t)>& progress = {});
// The judging alone, for images made elsewhere: (N, 3, H, W) in [-1, 1].
ShapesEvalResult judge_shapes_batch(const Tensor& images, const std::vector<std::string>& prompts,
                                    const data::ShapeExclusions& exclude);

}  // namespace ld::diffusion
