// diffusion/config.h: the model configuration (configs/*.json).
// `mnist-t2i` is the reference model of docs/reference-model.md; smaller configs
// keep its layout and names with fewer channels. The JSON files in configs/ are
// compiled into the binary, so `--config mnist-t2i` works from any folder; a path
// to a .json file works too.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ld::diffusion {

struct ModelConfig {
  std::string name;
  int64_t image_size = 28, image_channels = 1;
  std::vector<int64_t> channels{32, 64, 128};  // widths of the 28x28, 14x14, 7x7 levels
  int64_t groups = 8;                          // GroupNorm groups
  int64_t heads = 4;                           // UNet attention heads
  int64_t time_freq_dim = 32, time_dim = 128;  // sinusoidal size, time-embedding width
  float dropout = 0.1f;                        // in ResBlocks
  int64_t text_dim = 64, text_layers = 2, text_heads = 4, text_ff_dim = 256;
  int64_t max_tokens = 16;
  int64_t vocab_size = 0;  // set from the vocabulary when a model is built
  int64_t timesteps = 1000;
  std::string beta_schedule = "linear";  // or "cosine"
  float beta_start = 1e-4f, beta_end = 0.02f;
  float p_uncond = 0.1f;                    // caption dropout for classifier-free guidance
  std::string prediction_type = "epsilon";  // or "v_prediction": the network's target (prediction.h)

  nlohmann::json to_json() const;
  // Validates every field; errors name `source` (file or config name) and the field.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& source);
};

// Whether a config stored in a file (a training state's, an adapter's base) is `c`: the stored one is
// read through from_json first, so a field added since it was written (prediction_type) counts as its
// default rather than as a difference. False when the stored config does not read at all.
bool same_config(const nlohmann::json& stored, const ModelConfig& c);

// The config's image_size / image_channels against the images a command is about to use (data
// is not resized to the config, except by `lora train`): throws ld::Error naming both, e.g.
// "--config 'my32.json' has image_size 32 but the data --data 'data/mnist' is 28x28". A
// model trained on 28x28 digits under image_size 32 would silently sample 32x32 images.
void check_image_shape(const ModelConfig& cfg, int64_t height, int64_t width, int64_t channels,
                       const std::string& data_source, const std::string& config_source);

// A built-in name (mnist-t2i, mnist-t2i-small, mnist-t2i-tiny, shapes-t2i, shapes-t2i-small,
// shapes-t2i-tiny) or a path to a JSON file.
ModelConfig load_config(const std::string& name_or_path);
std::vector<std::string> builtin_config_names();

}  // namespace ld::diffusion
