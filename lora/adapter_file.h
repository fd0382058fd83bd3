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
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/vocab.h"
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
  // Words the adapter adds to the vocabulary (`lora train --new-token`, textual inversion inside the
  // adapter) and their token-embedding rows (n, text_dim), stored as metadata "new_tokens" (a JSON
  // list) and the tensor "text.new_tokens.weight".
  std::vector<std::string> new_words;
  Tensor new_rows;

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
  std::vector<std::string> warnings;   // base hash or config differences
  float start = 0, end = 1;            // the spec's step range (load_lora_specs)
  std::vector<std::string> new_words;  // words it added to the vocabulary (and rows to the model)
};

// Attach `adapter` to `model` with weight w (Eq. (LoRA)'s w_i), under `name` (new in every
// layer). Validates every layer first: nothing changes when one does not fit.
LoadAdapterReport load_adapter(nn::Module& model, const Adapter& adapter, float weight,
                               const std::string& name);

// `--lora FILE[:W][:down=a,mid=b,up=c,te=d][:start=s,end=e]`, the sdnext / diffusers set_adapters
// conventions for one adapter at generation time:
//   W            the adapter weight w of Eq. (LoRA), W' = W + w (alpha / r) B A (1 when omitted);
//   te/down/mid/up  per-block weights replacing W in that block: te = the text encoder (text.*),
//                down = unet.down*, mid = unet.mid.*, up = unet.up*; the UNet's other layers
//                (conv_in, time_mlp, out_conv) and blocks not named keep W;
//   start, end   fractions of the sampling steps in [0, 1], start < end: the adapter is active at
//                step `index` of `total` when start <= index / total < end, off (weight 0) otherwise.
// Key groups may come in any order and mix; one line errors name the spec and what was expected.
struct LoRASpec {
  std::string path;
  float weight = 1;
  std::map<std::string, float> blocks;  // "te", "down", "mid", "up" -> weight
  float start = 0, end = 1;
  bool has_range() const { return start != 0.0f || end != 1.0f; }
  // The weight of the adapter in the layer `layer_name` (a dotted module name).
  float weight_for(const std::string& layer_name) const;
};
LoRASpec parse_lora_spec(const std::string& spec);
// "te", "down", "mid", "up" or "" (no block) for a module name such as "unet.down1.attn.self_attn.to_q".
std::string lora_block_of(const std::string& layer_name);
// A short name for an adapter file: its stem ("nines" for "out/nines.safetensors").
std::string adapter_display_name(const std::string& path);

// `--lora FILE:WEIGHT...` (repeatable) onto a model: read, check and attach each adapter under
// its file's stem (made unique with _2, _3, ...), with its per-block weights. One report each,
// warnings included; a report remembers its spec's step range.
// With `vocab` (the model's vocabulary, which the caller tokenizes with), an adapter's new words are
// added to it and their rows to the text encoder (TextEncoder::add_token_rows) -- unless the adapter's
// text-encoder weight (te, else W) is 0: then nothing is added, so the output is the base's bit for bit
// and the word stays unknown (tokenize warns as for any unknown word). A word the vocabulary already
// has is refused.
std::vector<LoadAdapterReport> load_lora_specs(nn::Module& model, const std::vector<std::string>& specs,
                                               data::Vocabulary* vocab = nullptr);
// Add the words of `adapter` (new_words / new_rows) to `vocab` and the model's text encoder.
void add_adapter_words(nn::Module& model, data::Vocabulary& vocab, const Adapter& adapter);

// The step schedule of `--lora ...:start=s,end=e`, for SampleOptions::before_step: at step index of
// total each ranged adapter gets its loaded per-layer weights when start <= index / total < end and
// weight 0 (skipped, so bit-identical to the model without it) otherwise. Empty (no hook) when no
// report has a range. The weights are those the layers hold when this is called.
std::function<void(int64_t index, int64_t total)> adapter_step_schedule(
    nn::Module& model, const std::vector<LoadAdapterReport>& reports);

}  // namespace ld::lora
