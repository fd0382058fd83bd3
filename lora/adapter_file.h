// lora/adapter_file.h: a LoRA adapter as a small standalone file (article Fig. 5: the adapter is
// trained and shipped apart from the base model, and put beside it at generation time).
//
// One safetensors file (written atomically) holding only the adapter, per docs/reference-model.md:
//   <layer>.lora_A.weight   F32 (r, in)    [(r, in, k, k) for a Conv2d]
//   <layer>.lora_B.weight   F32 (out, r)   [(out, r, 1, 1) for a Conv2d]
// and the metadata
//   format             "loradiff-lora"
//   rank, alpha        the nominal rank and alpha; each layer's own r is its tensors' shape
//                      (resize --energy gives layers different ranks); scale = alpha / r
//   targets            the target patterns, JSON
//   base_config        the base model's ModelConfig, JSON
//   base_weights_hash  diffusion::weights_hash of the base weights the adapter was made for
//   training           what it was trained (or extracted, resized) from, JSON
// Loading onto a model checks every layer before touching the model: a layer the model lacks
// or a shape that does not fit fails, naming the file and the layer; a different base hash
// (or config) only warns, since an adapter may be used on purpose on a related model.
#pragma once
#include <string>
#include <vector>

#include "nn/safetensors.h"

namespace ld::lora {

inline constexpr const char* kAdapterFormat = "loradiff-lora";

struct AdapterLayer {
  std::string name;  // the adapted module, e.g. "unet.mid.attn.self_attn.to_q"
  Tensor A, B;       // A (r, fan_in...) down, B (out, r...) up
  int64_t rank() const { return A.size(0); }
};

struct Adapter {
  std::vector<AdapterLayer> layers;  // sorted by name
  int64_t rank = 0;                  // nominal rank (metadata)
  float alpha = 0;
  std::vector<std::string> targets;
  std::string base_config;        // JSON
  std::string base_weights_hash;  // "" when unknown
  nn::Metadata extra;             // other metadata ("training", ...), kept as is
  std::string source;             // the file it was read from, for messages

  int64_t num_parameters() const;
  // (alpha / r) B A of one layer as a (out, fan_in) matrix.
  Tensor delta_matrix(size_t i) const;
};

// The adapter called `name` in every LoRA layer of `model` (A and B copied). rank is the
// largest layer rank; alpha must be the same in every layer. Config and hash fields are left
// for the caller to fill in.
Adapter adapter_from_model(const nn::Module& model, const std::string& name);

// Write atomically. Fails when the adapter is empty or malformed.
void save_adapter(const std::string& path, const Adapter& adapter);
// Read and validate (names, pairs, shapes, ranks, finite values, metadata).
Adapter read_adapter(const std::string& path);

struct LoadAdapterReport {
  std::string name;  // the adapter's name in the model's LoRA layers
  float weight = 1;
  int64_t layers = 0;
  std::vector<std::string> warnings;  // base hash or config differences
};

// Attach `adapter` to `model` with weight w (Eq. (LoRA)'s w_i), under `name` (new in every
// layer). Validates every layer first: nothing changes when one does not fit.
LoadAdapterReport load_adapter(nn::Module& model, const Adapter& adapter, float weight,
                               const std::string& name);

// "--lora path.safetensors:0.8" -> {path, 0.8}; without ":w" the weight is 1.
struct LoRASpec {
  std::string path;
  float weight = 1;
};
LoRASpec parse_lora_spec(const std::string& spec);
// A short name for an adapter file: its stem ("nines" for "out/nines.safetensors").
std::string adapter_display_name(const std::string& path);

// `--lora FILE:WEIGHT` (repeatable) onto a model: read, check and attach each adapter under
// its file's stem (made unique with _2, _3, ...). One report each, warnings included.
std::vector<LoadAdapterReport> load_lora_specs(nn::Module& model, const std::vector<std::string>& specs);

}  // namespace ld::lora
