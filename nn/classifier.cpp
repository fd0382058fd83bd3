// nn/classifier.cpp: see classifier.h.
#include "nn/classifier.h"

#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "nn/checkpoint.h"
#include "tensor/excerpt.h"
#include "tensor/index.h"
#include "tensor/interrupt.h"
#include "tensor/reduce.h"

namespace ld::nn {

namespace {
constexpr const char* kFormat = "loradiff-classifier";
}

std::string ClassifierConfig::to_json() const {
  return nlohmann::json{{"c1", c1}, {"c2", c2}, {"hidden", hidden}, {"dropout", dropout}}.dump();
}

ClassifierConfig ClassifierConfig::from_json(const std::string& text) {
  ClassifierConfig c;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("classifier config: not valid JSON: ", excerpt(e.what(), 160));
  }
  for (auto [key, field] : {std::pair{"c1", &c.c1}, {"c2", &c.c2}, {"hidden", &c.hidden}}) {
    if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() <= 0)
      fail("classifier config: '", key, "' must be a positive integer in ", excerpt(text));
    *field = j[key].get<int64_t>();
  }
  if (!j.contains("dropout") || !j["dropout"].is_number())
    fail("classifier config: 'dropout' missing in ", excerpt(text));
  c.dropout = j["dropout"].get<double>();
  return c;
}

MnistClassifier::MnistClassifier(const ClassifierConfig& cfg, Generator& gen) : config(cfg) {
  conv1 = make<Conv2d>(1, cfg.c1, 3, 1, 1, true, gen);
  conv2 = make<Conv2d>(cfg.c1, cfg.c1, 3, 2, 1, true, gen);
  conv3 = make<Conv2d>(cfg.c1, cfg.c2, 3, 1, 1, true, gen);
  conv4 = make<Conv2d>(cfg.c2, cfg.c2, 3, 2, 1, true, gen);
  fc1 = make<Linear>(cfg.c2 * 7 * 7, cfg.hidden, true, gen);
  dropout = make<Dropout>(static_cast<float>(cfg.dropout), gen);
  fc2 = make<Linear>(cfg.hidden, 10, true, gen);
  register_module("conv1", conv1);
  register_module("conv2", conv2);
  register_module("conv3", conv3);
  register_module("conv4", conv4);
  register_module("fc1", fc1);
  register_module("dropout", dropout);
  register_module("fc2", fc2);
}

Var MnistClassifier::features(const Var& x) {
  if (x.dim() != 4 || x.size(1) != 1 || x.size(2) != 28 || x.size(3) != 28)
    fail("MnistClassifier: images ", shape_str(x.shape()), " must be (B, 1, 28, 28)");
  Var h = ag::relu((*conv1)(x));
  h = ag::relu((*conv2)(h));
  h = ag::relu((*conv3)(h));
  h = ag::relu((*conv4)(h));
  h = ag::reshape(h, {x.size(0), config.c2 * 7 * 7});
  return ag::relu((*fc1)(h));
}

Var MnistClassifier::logits(const Var& x) { return (*fc2)((*dropout)(features(x))); }

void save_classifier(const std::string& path, const MnistClassifier& model, const Metadata& extra) {
  Metadata meta = extra;
  meta["format"] = kFormat;
  meta["config"] = model.config.to_json();
  save_checkpoint(path, model, meta);
}

std::shared_ptr<MnistClassifier> load_classifier(const std::string& path, Metadata* metadata) {
  SafeTensors st = load_safetensors(path);
  auto format = st.metadata.find("format");
  if (format == st.metadata.end() || format->second != kFormat)
    fail(path, ": not a loradiff classifier (metadata format is '",
         format == st.metadata.end() ? std::string("missing") : excerpt(format->second), "', expected '",
         kFormat, "')");
  auto config = st.metadata.find("config");
  if (config == st.metadata.end()) fail(path, ": the classifier file has no config in its metadata");
  ClassifierConfig cfg;
  try {
    cfg = ClassifierConfig::from_json(config->second);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  check_finite(st.tensors, path);
  Generator gen(0);  // the weights are overwritten by the file
  auto model = make<MnistClassifier>(cfg, gen);
  try {
    model->load_state_dict(st.tensors, /*strict=*/true);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  model->eval();
  if (metadata) *metadata = std::move(st.metadata);
  return model;
}

namespace {
// f applied to batches of images in eval mode without a graph; outputs concatenated on axis 0.
template <class F>
Tensor batched_eval(MnistClassifier& model, const Tensor& images, int64_t batch_size, F f) {
  if (images.dim() != 4) fail("classifier: images ", shape_str(images.shape()), " must be (N, 1, 28, 28)");
  if (batch_size <= 0) fail("classifier: batch size ", batch_size, " must be positive");
  const bool was_training = model.is_training();
  model.eval();
  ag::NoGrad no_grad;
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += batch_size) {
    throw_if_interrupted();  // Ctrl-C: a whole split takes seconds
    const int64_t n = std::min(batch_size, images.size(0) - i);
    parts.push_back(f(Var(images.narrow(0, i, n).contiguous())).value());
  }
  model.train(was_training);
  if (parts.empty()) fail("classifier: no images");
  return parts.size() == 1 ? parts[0] : concat(parts, 0);
}
}  // namespace

Tensor classifier_features(MnistClassifier& model, const Tensor& images, int64_t batch_size) {
  return batched_eval(model, images, batch_size, [&](const Var& x) { return model.features(x); });
}

Tensor classifier_logits(MnistClassifier& model, const Tensor& images, int64_t batch_size) {
  return batched_eval(model, images, batch_size, [&](const Var& x) { return model.logits(x); });
}

Tensor classifier_predict(MnistClassifier& model, const Tensor& images, int64_t batch_size) {
  return argmax(classifier_logits(model, images, batch_size), 1);
}

double classifier_accuracy(MnistClassifier& model, const Tensor& images, const Tensor& labels,
                           int64_t batch_size) {
  check_dtype("classifier_accuracy", labels, DType::I32, "labels");
  if (labels.dim() != 1 || labels.size(0) != images.size(0))
    fail("classifier_accuracy: ", labels.numel(), " labels for ", images.size(0), " images");
  std::vector<int32_t> pred = classifier_predict(model, images, batch_size).to_ints(),
                       want = labels.to_ints();
  int64_t right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == want[i];
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

}  // namespace ld::nn
