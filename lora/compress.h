// lora/compress.h: low-rank compression of a trained model (article claims C1-C3).
//
// Each selected dense layer W (out, fan_in) (+ bias b) is replaced by a LowRankLinear /
// LowRankConv2d (nn/low_rank_linear.h, nn/low_rank_conv2d.h) holding U (out, r), V (r, fan_in):
//   y = U (V x) + b,    r (fan_in + out) parameters instead of fan_in * out           (C1, C2)
// with U, V from one of two initialisations (C3: "approximating each dense layer with SVD or
// with input compression layers"):
//   svd    truncated SVD of W: the closest rank-r weight (lora/low_rank_init.h)
//   input  whitened SVD of W C^{1/2}, C the second moment of the layer's inputs on calibration
//          data: the rank-r layer whose outputs are closest (lora/input_compression.h)
// A Conv2d's kernel is treated as the matrix (out, in*k*k), so a 3x3 convolution becomes a 3x3
// convolution to r channels followed by a 1x1 convolution; 1x1 convolutions are Linear layers
// applied at every pixel. The rank per layer follows a RankRule (--rank / --energy / --params);
// no layer ever gets more parameters than it had.
//
// Which layers (patterns as in lora/attach.h: '*' globs over the dotted name, a bare word
// matches the last part): by default the dense layers of the UNet's AttnBlocks,
//   unet.*.to_q, unet.*.to_k, unet.*.to_v, unet.*.to_out  (self- and cross-attention)
//   unet.*.ff.fc1, unet.*.ff.fc2                          (the feed-forwards)
// and, on request, unet.*.time_proj and the 1x1 convolutions unet.*.proj_in, unet.*.proj_out,
// unet.*.skip (extended_compress_targets), or any Linear / Conv2d by name (3x3 convs included).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lora/calibration.h"
#include "lora/low_rank_init.h"

namespace ld::lora {

std::vector<std::string> default_compress_targets();
// default_compress_targets() plus the ResBlocks' time_proj and the 1x1 convolutions.
std::vector<std::string> extended_compress_targets();

// The Linear / Conv2d layers matched by any pattern, in model order (layers inside a low-rank
// layer are not candidates). Fails naming a pattern that matches no such layer.
std::vector<std::string> find_compress_targets(const nn::Module& model,
                                               const std::vector<std::string>& patterns);

enum class CompressMethod { SVD, Input };
CompressMethod parse_compress_method(const std::string& name);  // "svd", "input"
const char* compress_method_name(CompressMethod m);

struct CompressOptions {
  CompressMethod method = CompressMethod::SVD;
  RankRule rule;
  std::vector<std::string> layers;  // patterns; empty = default_compress_targets()
  // input method: centre the inputs where a constant output shift costs nothing (see
  // lora/input_compression.h, "Centring"); false = the plain second moment everywhere
  bool centre = true;
};

struct LayerCompression {
  std::string name, kind;                       // kind: "Linear", "Conv2d 1x1", "Conv2d 3x3"
  int64_t fan_in = 0, out = 0;                  // the weight as a matrix (out, fan_in)
  int64_t rank = 0;                             // 0: kept dense (see note)
  int64_t max_rank = 0;                         // largest rank that still saves parameters
  int64_t params_before = 0, params_after = 0;  // weight + bias
  double energy_kept = 1;                       // share of sum S^2 of the truncated spectrum
  double weight_error = 0;                      // ||W - U V||_F / ||W||_F
  double output_error = NAN;                    // relative_output_error on the calibration inputs
  std::string centring;                         // input method: where the mean's shift went, or empty
  std::string note;
  nlohmann::json to_json() const;
};

struct CompressionReport {
  CompressMethod method = CompressMethod::SVD;
  RankRule rule;
  std::vector<LayerCompression> layers;
  int64_t params_before = 0, params_after = 0;              // the selected layers, weights + biases
  int64_t model_params_before = 0, model_params_after = 0;  // the whole model
  int64_t replaced() const;                                 // layers made low-rank
  double mean_weight_error() const;                         // over replaced layers
  double mean_output_error() const;                         // over replaced layers (NaN without calibration)
  nlohmann::json to_json() const;
  std::string table() const;  // one line per layer and a total, for the terminal
};

// The checks compress_model makes before changing anything, without the SVDs: every pattern
// matches, a fixed rank or share fits every selected layer. Returns the selected layer names.
std::vector<std::string> check_compress_options(const nn::Module& model, const CompressOptions& options);

// Replaces the selected layers of `model` in place. `moments` (from calibrate_inputs on the same
// layers) is required by the input method; with the SVD method it is optional and only used to
// report output errors. Checks every layer's rank before changing any.
CompressionReport compress_model(nn::Module& model, const CompressOptions& options,
                                 const InputMomentsMap* moments = nullptr);

}  // namespace ld::lora
