// lora/calibration.h: what inputs does each dense layer see? The data half of the
// input-compression initialisation (lora/input_compression.h, article claim C3).
//
// The model runs, without gradients and in eval mode, on a calibration set drawn like the
// training data of Eq. (1): images x_0 of the training split, t uniform in {0..T-1},
// x_t = q_sample(x_0, t, eps), captions y dropped to the empty caption with probability p_uncond
// (the unconditional pass of classifier-free guidance is part of what the model computes).
// While it runs, every target layer sits inside an InputRecorder that accumulates, for the rows
// x the layer multiplies by its weight,
//   S = sum_n w_n x_n x_n^T,   N = sum_n w_n,     C = S / N   (the second moment, fan_in x fan_in)
// and s = sum_n w_n x_n, mu = s / N (the mean; the centred variant of input compression uses
// C - mu mu^T).
// Rows are the last axis of a Linear's input (every token, every pixel of an AttnBlock, every
// sample of time_proj) and the im2col patches of a Conv2d (in*k*k values per output pixel).
// w_n = 1, except for layers that read text tokens (the text encoder and the cross-attention's
// to_k / to_v): there a <pad> token gets w_n = 0, since attention masks it as a key and its
// value never reaches an output. Storing S (fan_in^2 numbers) instead of the inputs keeps memory
// small; every output error of the layer on the calibration set follows from C alone.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "diffusion/model.h"
#include "nn/module.h"

namespace ld::lora {

struct InputMoments {
  int64_t dim = 0;              // fan_in
  double rows = 0;              // N = sum of the row weights
  std::vector<double> sum_xxT;  // S, dim x dim, row-major
  std::vector<double> sum_x;    // s = sum_n w_n x_n, dim
  Shape input_shape;            // the layer's last input (batch first): for benchmarks
  // X (n, dim) F32; row_weight (n) F32 or undefined (all 1).
  void add(const Tensor& X, const Tensor& row_weight = Tensor());
  Tensor second_moment() const;  // C = S / N, F32; fails when no row was seen
  Tensor mean() const;           // mu = s / N, (dim) F32
  Tensor covariance() const;     // C_c = C - mu mu^T (the second moment of x - mu), F32
};
using InputMomentsMap = std::map<std::string, InputMoments>;

// True for layers whose inputs are text tokens (rows of <pad> tokens are not counted).
bool reads_text_tokens(const std::string& layer_name);

// Wraps a Linear or Conv2d; forward records its input rows, then calls it unchanged.
class InputRecorder : public nn::Module {
 public:
  // token_mask: shared with the calibration loop, which sets the batch's key mask (B, L).
  InputRecorder(std::shared_ptr<nn::Module> layer, std::string name, std::shared_ptr<Tensor> token_mask);
  std::string type_name() const override { return "InputRecorder"; }
  ag::Var forward(const ag::Var& x) override;

  std::shared_ptr<nn::Module> layer;
  std::string name;
  InputMoments moments;

 private:
  std::shared_ptr<Tensor> token_mask_;  // null for layers that read pixels
};

// Puts an InputRecorder into each named layer's slot; the destructor puts the layers back.
class InputRecording {
 public:
  InputRecording(nn::Module& model, const std::vector<std::string>& layers);
  ~InputRecording();
  InputRecording(const InputRecording&) = delete;
  InputRecording& operator=(const InputRecording&) = delete;
  void set_token_mask(const Tensor& key_keep);  // (B, L) F32, 1 = a real token
  InputMomentsMap moments() const;

 private:
  nn::Module& model_;
  std::vector<std::pair<std::string, std::shared_ptr<InputRecorder>>> recorders_;
  std::shared_ptr<Tensor> token_mask_;
};

struct CalibrationOptions {
  int64_t samples = 512;  // calibration images (each at one random t)
  int64_t batch = 64;
  uint64_t seed = 0;  // which images, their t, noise and caption dropout
};

struct CalibrationResult {
  InputMomentsMap moments;  // by layer name
  int64_t samples = 0;
  double loss = 0;  // loss (1) of the model on the calibration batches
  double seconds = 0;
};

// Records the inputs of `layers` of `model` on `options.samples` images of `data` (see top).
CalibrationResult calibrate_inputs(diffusion::TextToImageModel& model, const data::CaptionedImages& data,
                                   const data::Vocabulary& vocab, const std::vector<std::string>& layers,
                                   const CalibrationOptions& options);

}  // namespace ld::lora
