// diffusion/config.cpp: reading and checking a model configuration (configs/*.json, built in or a
// path); every error names the file and the field.
#include "diffusion/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "data/tokenizer.h"
#include "diffusion/prediction.h"
#include "tensor/error.h"
#include "tensor/excerpt.h"
#include "tensor/file_io.h"

namespace ld::diffusion {

// Generated at build time from configs/*.json (diffusion/CMakeLists.txt).
extern const std::vector<std::pair<std::string, std::string>> kBuiltinConfigs;

nlohmann::json ModelConfig::to_json() const {
  return {{"name", name},
          {"image_size", image_size},
          {"image_channels", image_channels},
          {"channels", channels},
          {"groups", groups},
          {"heads", heads},
          {"time_freq_dim", time_freq_dim},
          {"time_dim", time_dim},
          {"dropout", dropout},
          {"text_dim", text_dim},
          {"text_layers", text_layers},
          {"text_heads", text_heads},
          {"text_ff_dim", text_ff_dim},
          {"max_tokens", max_tokens},
          {"vocab_size", vocab_size},
          {"timesteps", timesteps},
          {"beta_schedule", beta_schedule},
          {"beta_start", beta_start},
          {"beta_end", beta_end},
          {"p_uncond", p_uncond},
          {"prediction_type", prediction_type}};
}

namespace {

// nlohmann's get<int64_t>() turns 28.5 into 28 and 1e30 into an undefined float-to-int
// conversion, get<float>() 1e300 into an undefined double-to-float one: so integer fields
// take only JSON integers, float fields only numbers within float range.
bool has_type(const nlohmann::json& v, const int64_t*) {
  return v.is_number_integer() && (!v.is_number_unsigned() || v.get<uint64_t>() <= INT64_MAX);
}
bool has_type(const nlohmann::json& v, const float*) {
  return v.is_number() && std::fabs(v.get<double>()) <= std::numeric_limits<float>::max();
}
bool has_type(const nlohmann::json& v, const std::string*) { return v.is_string(); }
bool has_type(const nlohmann::json& v, const std::vector<int64_t>*) {
  return v.is_array() && std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) {
           return has_type(e, static_cast<const int64_t*>(nullptr));
         });
}

template <class T>
void read_field(const nlohmann::json& j, const char* key, T& out, const std::string& src) {
  if (!j.contains(key)) return;  // keep the default
  if (!has_type(j.at(key), &out))
    fail("config ", src, ": field '", key, "' has the wrong type (", excerpt(j.at(key).dump()), ")");
  out = j.at(key).get<T>();
}

void require(bool ok, const std::string& src, const char* field, const std::string& what) {
  if (!ok) fail("config ", src, ": field '", field, "' ", what);
}

}  // namespace

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& src) {
  if (!j.is_object()) fail("config ", src, ": expected a JSON object");
  static const std::vector<std::string> known = {
      "name",       "description",   "image_size", "image_channels", "channels",  "groups",
      "heads",      "time_freq_dim", "time_dim",   "dropout",        "text_dim",  "text_layers",
      "text_heads", "text_ff_dim",   "max_tokens", "vocab_size",     "timesteps", "beta_schedule",
      "beta_start", "beta_end",      "p_uncond",   "prediction_type"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(known.begin(), known.end(), it.key()) == known.end())
      fail("config ", src, ": unknown field '", it.key(), "'");
  ModelConfig c;
  read_field(j, "name", c.name, src);
  read_field(j, "image_size", c.image_size, src);
  read_field(j, "image_channels", c.image_channels, src);
  read_field(j, "channels", c.channels, src);
  read_field(j, "groups", c.groups, src);
  read_field(j, "heads", c.heads, src);
  read_field(j, "time_freq_dim", c.time_freq_dim, src);
  read_field(j, "time_dim", c.time_dim, src);
  read_field(j, "dropout", c.dropout, src);
  read_field(j, "text_dim", c.text_dim, src);
  read_field(j, "text_layers", c.text_layers, src);
  read_field(j, "text_heads", c.text_heads, src);
  read_field(j, "text_ff_dim", c.text_ff_dim, src);
  read_field(j, "max_tokens", c.max_tokens, src);
  read_field(j, "vocab_size", c.vocab_size, src);
  read_field(j, "timesteps", c.timesteps, src);
  read_field(j, "beta_schedule", c.beta_schedule, src);
  read_field(j, "beta_start", c.beta_start, src);
  read_field(j, "beta_end", c.beta_end, src);
  read_field(j, "p_uncond", c.p_uncond, src);
  read_field(j, "prediction_type", c.prediction_type, src);  // absent in checkpoints before v: epsilon

  require(c.image_size > 0 && c.image_size % 4 == 0, src, "image_size", "must be a positive multiple of 4");
  require(c.image_channels >= 1, src, "image_channels", "must be >= 1");
  require(c.channels.size() == 3, src, "channels", "must list 3 widths (28x28, 14x14, 7x7 levels)");
  require(c.groups >= 1, src, "groups", "must be >= 1");
  require(c.heads >= 1, src, "heads", "must be >= 1");  // before the divisions below
  for (int64_t ch : c.channels)
    require(ch > 0 && ch % c.groups == 0 && ch % c.heads == 0, src, "channels",
            "must be positive and divisible by groups and heads");
  require(c.time_freq_dim >= 2 && c.time_freq_dim % 2 == 0, src, "time_freq_dim", "must be even and >= 2");
  require(c.time_dim >= 1, src, "time_dim", "must be >= 1");
  require(c.dropout >= 0.0f && c.dropout < 1.0f, src, "dropout", "must be in [0, 1)");
  require(c.text_dim >= 1 && c.text_heads >= 1 && c.text_dim % c.text_heads == 0, src, "text_dim",
          "must be divisible by text_heads");
  require(c.text_layers >= 0, src, "text_layers", "must be >= 0");
  require(c.text_ff_dim >= 1, src, "text_ff_dim", "must be >= 1");
  // The tokenizer always gives kContextLength ids; any other value failed at the first step.
  require(c.max_tokens == data::kContextLength, src, "max_tokens",
          str_cat("must be ", data::kContextLength, " (the tokenizer's <bos> + 15 words)"));
  require(c.vocab_size >= 0, src, "vocab_size", "must be >= 0");
  require(c.timesteps >= 2, src, "timesteps", "must be >= 2");
  require(c.beta_schedule == "linear" || c.beta_schedule == "cosine", src, "beta_schedule",
          "must be \"linear\" or \"cosine\"");
  require(c.beta_start > 0 && c.beta_end < 1 && c.beta_start < c.beta_end, src, "beta_start",
          "and beta_end must satisfy 0 < beta_start < beta_end < 1");
  require(c.p_uncond >= 0.0f && c.p_uncond < 1.0f, src, "p_uncond", "must be in [0, 1)");
  require(is_prediction_type(c.prediction_type), src, "prediction_type",
          "must be \"epsilon\" or \"v_prediction\"");
  // Upper limits far above any model this project trains (mnist-t2i: widths <= 128), so that a
  // corrupt config fails here instead of asking for terabytes when the model is built.
  require(c.image_size <= 1024, src, "image_size", "must be at most 1024");
  require(c.image_channels <= 64, src, "image_channels", "must be at most 64");
  for (int64_t ch : c.channels) require(ch <= 4096, src, "channels", "must be at most 4096 each");
  require(c.time_freq_dim <= 4096 && c.time_dim <= 4096, src, "time_dim",
          "and time_freq_dim must be at most 4096");
  require(c.text_dim <= 4096 && c.text_ff_dim <= 16384, src, "text_dim",
          "must be at most 4096 (text_ff_dim at most 16384)");
  require(c.text_layers <= 64, src, "text_layers", "must be at most 64");
  require(c.max_tokens <= 1024, src, "max_tokens", "must be at most 1024");
  require(c.vocab_size <= (1 << 20), src, "vocab_size", "must be at most 2^20");
  require(c.timesteps <= 100000, src, "timesteps", "must be at most 100000");
  return c;
}

bool same_config(const nlohmann::json& stored, const ModelConfig& c) {
  try {
    return ModelConfig::from_json(stored, "stored").to_json() == c.to_json();
  } catch (const Error&) {
    return false;
  }
}

void check_image_shape(const ModelConfig& cfg, int64_t height, int64_t width, int64_t channels,
                       const std::string& data_source, const std::string& config_source) {
  if (height == cfg.image_size && width == cfg.image_size && channels == cfg.image_channels) return;
  if (height != cfg.image_size || width != cfg.image_size)
    fail(config_source, " has image_size ", cfg.image_size, " but the data ", data_source, " is ", width, "x",
         height, "; use a config with image_size ",
         height == width ? str_cat(height) : "equal to the image sides", " (e.g. mnist-t2i for MNIST)");
  fail(config_source, " has image_channels ", cfg.image_channels, " but the data ", data_source, " has ",
       channels, " channel", channels == 1 ? "" : "s", "; use a config with image_channels ", channels);
}

std::vector<std::string> builtin_config_names() {
  std::vector<std::string> names;
  for (auto& [name, text] : kBuiltinConfigs) names.push_back(name);
  return names;
}

ModelConfig load_config(const std::string& name_or_path) {
  for (auto& [name, text] : kBuiltinConfigs)
    if (name == name_or_path) return ModelConfig::from_json(nlohmann::json::parse(text), name);
  std::error_code ec;
  if (!std::filesystem::exists(name_or_path, ec)) {
    std::string names;
    for (auto& n : builtin_config_names()) names += (names.empty() ? "" : ", ") + n;
    fail("--config: '", name_or_path, "' is neither a built-in config (", names, ") nor an existing file");
  }
  const std::string text = read_file(name_or_path);
  // nlohmann::json stops at a NUL byte as if the text ended there: a JSON file followed by
  // garbage (a damaged copy) would load
  if (const size_t nul = text.find('\0'); nul != std::string::npos)
    fail("config ", name_or_path, ": not valid JSON: a NUL byte at offset ", nul, " of ", text.size());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    fail("config ", name_or_path, ": not valid JSON: ", excerpt(e.what(), 160));
  }
  return ModelConfig::from_json(j, name_or_path);
}

}  // namespace ld::diffusion
