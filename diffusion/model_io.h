// diffusion/model_io.h: a text-to-image model in one safetensors file.
// The tensors are the model's state dict (names of docs/reference-model.md, F32,
// PyTorch layouts); the metadata holds
//   format: "loradiff", config: the ModelConfig as JSON, vocab: the word list as JSON,
//   weights_hash: weights_hash() of the tensors, and whatever the writer adds (step, ...).
// So a checkpoint is self-contained: load_model() rebuilds the network from it.
#pragma once
#include <memory>

#include "data/vocab.h"
#include "diffusion/model.h"
#include "nn/safetensors.h"

namespace ld::diffusion {

struct LoadedModel {
  std::unique_ptr<TextToImageModel> model;
  data::Vocabulary vocab;
  nn::Metadata metadata;
  std::string path;
};

// Build an untrained model for `cfg` and the vocabulary (sets cfg.vocab_size).
std::unique_ptr<TextToImageModel> build_model(ModelConfig cfg, const data::Vocabulary& vocab, uint64_t seed);

// Metadata for a checkpoint of `model` (format, config, vocab, weights_hash) plus `extra`.
nn::Metadata model_metadata(const TextToImageModel& model, const data::Vocabulary& vocab,
                            const nn::Metadata& extra = {});
void save_model(const std::string& path, const TextToImageModel& model, const data::Vocabulary& vocab,
                const nn::Metadata& extra = {});
// Reads config and vocab from the metadata, builds the model and loads every weight
// (strict). Errors name the file and what is missing or wrong.
LoadedModel load_model(const std::string& path);

// "model 'm.safetensors'", or "model 'm.safetensors' with --lora a.safetensors:0.8": what
// sampling errors name.
std::string model_source(const std::string& path, const std::vector<std::string>& lora_specs = {});

// A short fingerprint of the weights: first 16 hex digits of SHA-256 over every
// tensor's name, shape and bytes, in name order. LoRA adapters record it.
std::string weights_hash(const nn::StateDict& weights);

}  // namespace ld::diffusion
