// diffusion/shapes_eval.cpp: generation + rule-based judging of the shapes data set (shapes_eval.h).
#include "diffusion/shapes_eval.h"

#include "data/image.h"
#include "data/tokenizer.h"
#include "diffusion/schedule.h"
#include "tensor/error.h"
#include "tensor/index.h"
#include "tensor/interrupt.h"

namespace ld::diffusion {

std::vector<std::string> shapes_eval_prompts(uint64_t seed, int64_t n, double two_shape_fraction) {
  if (n < 1) fail("shapes prompts: ", n, " asked for, expected at least 1");
  Generator gen(seed);
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) {
    const bool two = gen.next_uniform() < two_shape_fraction;
    out.push_back(data::scene_caption(data::random_prompt_scene(gen, two)));
  }
  return out;
}

namespace {

nlohmann::json score_json(const data::ShapesScore& s) {
  nlohmann::json j;
  j["n"] = s.exact.total;
  auto put = [&](const char* name, const data::ShapesScore::Tally& t) {
    j[name] = t.total ? nlohmann::json(t.accuracy()) : nlohmann::json(nullptr);
    j[std::string(name) + "_n"] = t.total;
  };
  put("colour", s.colour);
  put("shape", s.shape);
  put("size", s.size);
  put("position", s.position);
  put("relation", s.relation);
  put("count", s.count);
  put("exact", s.exact);
  return j;
}

}  // namespace

nlohmann::json ShapesEvalResult::to_json() const {
  nlohmann::json j;
  j["dataset"] = "shapes";
  j["all"] = score_json(all);
  j["seen"] = score_json(seen);
  j["excluded"] = score_json(unseen);
  nlohmann::json per = nlohmann::json::array();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto& jd = judgements[i];
    nlohmann::json p;
    p["prompt"] = prompts[i];
    p["excluded"] = bool(excluded[i]);
    p["exact"] = jd.exact;
    p["count"] = jd.count;
    for (const auto& [name, v] :
         {std::pair{"colour", jd.colour}, std::pair{"shape", jd.shape}, std::pair{"size", jd.size},
          std::pair{"position", jd.position}, std::pair{"relation", jd.relation}})
      if (v) p[name] = *v;
    per.push_back(p);
  }
  j["images"] = per;
  return j;
}

ShapesEvalResult judge_shapes_batch(const Tensor& images, const std::vector<std::string>& prompts,
                                    const data::ShapeExclusions& exclude) {
  if (images.dim() != 4 || images.size(1) != 3 || images.size(0) != static_cast<int64_t>(prompts.size()))
    fail("shapes judge: images of shape ", shape_str(images.shape()), " for ", prompts.size(),
         " prompts, expected (", prompts.size(), ", 3, H, W)");
  ShapesEvalResult r;
  r.prompts = prompts;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const data::ShapesCaption cap = data::parse_shapes_caption(prompts[i]);
    const data::ShapesJudgement jd =
        data::judge_shapes(data::rgb_image_from_tensor(images.select(0, static_cast<int64_t>(i))), cap);
    const bool ex = cap.uses(exclude);
    r.judgements.push_back(jd);
    r.excluded.push_back(ex);
    r.all.add(jd);
    (ex ? r.unseen : r.seen).add(jd);
  }
  return r;
}

ShapesEvalResult evaluate_shapes(TextToImageModel& model, const data::Vocabulary& vocab,
                                 const std::vector<std::string>& prompts, const ShapesEvalOptions& o,
                                 const std::function<void(int64_t, int64_t)>& progress) {
  if (prompts.empty()) fail("shapes eval: no prompts");
  if (o.batch < 1) fail("--batch: ", o.batch, " must be >= 1");
  if (model.config.image_channels != 3)
    fail("eval --dataset shapes: the model makes ", model.config.image_channels,
         "-channel images; the shapes judge needs colour (a model of config shapes-t2i*)");
  for (const std::string& p : prompts) data::parse_shapes_caption(p);  // all before any sampling
  const ModelConfig& c = model.config;
  NoiseSchedule s = NoiseSchedule::make(c.beta_schedule, c.timesteps, c.beta_start, c.beta_end);
  std::vector<Tensor> parts;
  const auto total = static_cast<int64_t>(prompts.size());
  for (int64_t b0 = 0; b0 < total; b0 += o.batch) {
    throw_if_interrupted();
    const int64_t nb = std::min(o.batch, total - b0);
    SampleOptions so = o.sample;
    so.seed = o.sample.seed + static_cast<uint64_t>(b0);  // image i: seed + i, as `sample` does
    const std::vector<std::string> batch(prompts.begin() + b0, prompts.begin() + b0 + nb);
    parts.push_back(sample(model, s, data::tokenize_batch(vocab, batch).ids, so));
    if (progress) progress(b0 + nb, total);
  }
  return judge_shapes_batch(parts.size() == 1 ? parts[0] : concat(parts, 0), prompts, o.exclude);
}

}  // namespace ld::diffusion
