// lora/calibration.cpp: recording each layer's input second moment on a calibration set
// drawn like the training data of Eq. (1) (see calibration.h).
#include "lora/calibration.h"

#include <algorithm>
#include <chrono>

#include "autograd/ops.h"
#include "diffusion/prediction.h"
#include "diffusion/schedule.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "tensor/conv.h"
#include "tensor/elementwise.h"
#include "tensor/interrupt.h"
#include "tensor/matmul.h"
#include "tensor/reduce.h"

namespace ld::lora {

// S += X_w^T X_w with X_w = diag(sqrt w) X; w is 0 or 1 here, so X_w = diag(w) X
void InputMoments::add(const Tensor& X_in, const Tensor& row_weight) {
  if (X_in.dim() != 2) fail("InputMoments::add: rows ", shape_str(X_in.shape()), " must be 2-D (n, fan_in)");
  if (dim == 0) {
    dim = X_in.size(1);
    sum_xxT.assign(static_cast<size_t>(dim * dim), 0.0);
    sum_x.assign(static_cast<size_t>(dim), 0.0);
  }
  if (X_in.size(1) != dim) fail("InputMoments::add: rows of ", X_in.size(1), " values, expected ", dim);
  Tensor X = X_in.contiguous();
  if (row_weight.defined()) {
    if (row_weight.numel() != X.size(0))
      fail("InputMoments::add: ", row_weight.numel(), " row weights for ", X.size(0), " rows");
    X = mul(X, row_weight.reshape({X.size(0), 1}));
    for (float w : row_weight.contiguous().to_vector()) rows += w;
  } else {
    rows += static_cast<double>(X.size(0));
  }
  const std::vector<float> xtx = matmul(X.transpose(0, 1), X).to_vector();  // (dim, dim), one GEMM
  for (size_t i = 0; i < xtx.size(); ++i) sum_xxT[i] += xtx[i];
  const std::vector<float> xs = sum(X, {0}).to_vector();  // s += the weighted rows' column sums
  for (size_t i = 0; i < xs.size(); ++i) sum_x[i] += xs[i];
}

Tensor InputMoments::second_moment() const {
  if (!(rows > 0)) fail("InputMoments: no input rows were recorded");
  std::vector<float> c(sum_xxT.size());
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(sum_xxT[i] / rows);
  return Tensor::from_vector(c, {dim, dim});
}

Tensor InputMoments::mean() const {
  if (!(rows > 0)) fail("InputMoments: no input rows were recorded");
  std::vector<float> m(sum_x.size());
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(sum_x[i] / rows);
  return Tensor::from_vector(m, {dim});
}

Tensor InputMoments::covariance() const {
  if (!(rows > 0)) fail("InputMoments: no input rows were recorded");
  std::vector<float> c(sum_xxT.size());
  for (int64_t i = 0; i < dim; ++i)
    for (int64_t j = 0; j < dim; ++j) {
      const double mi = sum_x[i] / rows, mj = sum_x[j] / rows;
      c[i * dim + j] = static_cast<float>(sum_xxT[i * dim + j] / rows - mi * mj);
    }
  return Tensor::from_vector(c, {dim, dim});
}

bool reads_text_tokens(const std::string& name) {
  return name.starts_with("text.") || name.ends_with("cross_attn.to_k") || name.ends_with("cross_attn.to_v");
}

InputRecorder::InputRecorder(std::shared_ptr<nn::Module> l, std::string n, std::shared_ptr<Tensor> token_mask)
    : layer(std::move(l)), name(std::move(n)), token_mask_(std::move(token_mask)) {
  if (!std::dynamic_pointer_cast<nn::Linear>(layer) && !std::dynamic_pointer_cast<nn::Conv2d>(layer))
    fail("InputRecorder: layer '", name, "' is a ", layer->type_name(),
         "; only Linear and Conv2d are recorded");
  register_module("layer", layer);
}

ag::Var InputRecorder::forward(const ag::Var& x) {
  const Tensor& v = x.value();
  moments.input_shape = v.shape();
  if (auto conv = std::dynamic_pointer_cast<nn::Conv2d>(layer)) {
    // the rows a convolution multiplies by W (out, in*k*k): its im2col columns
    const Tensor col =
        im2col(v.contiguous(), conv->kernel_size, conv->kernel_size, conv->stride, conv->padding);
    moments.add(col.transpose(0, 1));
  } else {
    const int64_t fan_in = v.size(-1);
    const Tensor X = v.contiguous().reshape({-1, fan_in});
    if (token_mask_ && token_mask_->defined()) {
      if (token_mask_->numel() != X.size(0))
        fail("InputRecorder: layer '", name, "' reads text tokens, but its input ", shape_str(v.shape()),
             " does not match the token mask ", shape_str(token_mask_->shape()));
      moments.add(X, *token_mask_);
    } else {
      moments.add(X);
    }
  }
  return layer->forward(x);
}

InputRecording::InputRecording(nn::Module& model, const std::vector<std::string>& layers)
    : model_(model), token_mask_(std::make_shared<Tensor>()) {
  try {
    for (const auto& name : layers) {
      auto rec = nn::make<InputRecorder>(model.get_module(name), name,
                                         reads_text_tokens(name) ? token_mask_ : std::shared_ptr<Tensor>());
      model.replace_module(name, rec);
      recorders_.push_back({name, rec});
    }
  } catch (...) {
    for (auto& [name, rec] : recorders_) model_.replace_module(name, rec->layer);
    throw;
  }
}

InputRecording::~InputRecording() {
  for (auto& [name, rec] : recorders_) model_.replace_module(name, rec->layer);
}

void InputRecording::set_token_mask(const Tensor& key_keep) { *token_mask_ = key_keep; }

InputMomentsMap InputRecording::moments() const {
  InputMomentsMap out;
  for (const auto& [name, rec] : recorders_) out[name] = rec->moments;
  return out;
}

CalibrationResult calibrate_inputs(diffusion::TextToImageModel& model, const data::CaptionedImages& set,
                                   const data::Vocabulary& vocab, const std::vector<std::string>& layers,
                                   const CalibrationOptions& o) {
  if (o.samples < 1) fail("--calib-samples: ", o.samples, " must be >= 1");
  if (o.batch < 1) fail("--calib-batch: ", o.batch, " must be >= 1");
  if (set.size() == 0) fail("calibration: the data set is empty");
  const auto t0 = std::chrono::steady_clock::now();
  const diffusion::ModelConfig& cfg = model.config;
  const diffusion::NoiseSchedule s =
      diffusion::NoiseSchedule::make(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end);
  data::LoaderOptions lo;
  lo.batch_size = std::min(o.batch, set.size());
  lo.seed = o.seed;
  lo.drop_last = false;
  data::DataLoader loader(set, vocab, lo);
  Generator gen(o.seed * 0x9E3779B97F4A7C15ull + 11);

  ag::NoGrad ng;
  const bool was_training = model.is_training();
  model.eval();
  CalibrationResult res;
  double loss_sum = 0;
  {
    InputRecording rec(model, layers);
    while (res.samples < o.samples) {
      throw_if_interrupted();  // Ctrl-C: nothing is kept of a partial calibration
      data::Batch b = loader.next();
      const int64_t B = std::min(b.images.size(0), o.samples - res.samples);
      const Tensor x0 = b.images.narrow(0, 0, B).contiguous();
      Tensor ids = b.tokens.narrow(0, 0, B).contiguous().clone();
      const int64_t L = ids.size(1);
      // the draws of diffusion_loss (Eq. (1)): t, eps, caption dropout
      const Tensor t = rand_int({B}, 0, s.T(), gen);
      const Tensor eps = rand_normal(x0.shape(), gen);
      const Tensor drop = rand_uniform({B}, gen);
      for (int64_t i = 0; i < B; ++i)
        if (drop.f32()[i] < cfg.p_uncond)
          for (int64_t j = 0; j < L; ++j) ids.i32()[i * L + j] = j == 0 ? 1 : 0;
      Tensor keep = Tensor::zeros({B, L});
      for (int64_t i = 0; i < B * L; ++i) keep.f32()[i] = ids.i32()[i] != 0 ? 1.0f : 0.0f;
      rec.set_token_mask(keep);
      const ag::Var pred = model.forward(ag::Var(diffusion::q_sample(s, x0, t, eps)), t, ids);
      const Tensor target = diffusion::prediction_target(cfg.prediction_type, s, x0, eps, t);
      loss_sum += ag::mse_loss(pred, ag::Var(target)).value().item() * static_cast<double>(B);
      res.samples += B;
    }
    res.moments = rec.moments();
  }
  model.train(was_training);
  res.loss = loss_sum / static_cast<double>(res.samples);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace ld::lora
