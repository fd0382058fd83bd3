// diffusion/model_io.cpp: building a model from a config, and saving / loading it as one
// safetensors file (state dict + config, vocabulary and weights hash in the metadata).
#include "diffusion/model_io.h"

#include "data/sha256.h"
#include "nn/checkpoint.h"
#include "nn/low_rank_layout.h"
#include "tensor/excerpt.h"

namespace ld::diffusion {

std::unique_ptr<TextToImageModel> build_model(ModelConfig cfg, const data::Vocabulary& vocab, uint64_t seed) {
  // vocab_size follows the vocabulary; a config that says otherwise was not made for it
  if (cfg.vocab_size != 0 && cfg.vocab_size != vocab.size())
    fail("config ", cfg.name.empty() ? "(unnamed)" : cfg.name, ": vocab_size ", cfg.vocab_size,
         " but the vocabulary has ", vocab.size(),
         " words; leave vocab_size out (it is set from the vocabulary)");
  cfg.vocab_size = vocab.size();
  Generator gen(seed);
  return std::make_unique<TextToImageModel>(cfg, gen);
}

std::string weights_hash(const nn::StateDict& weights) {
  std::string bytes;
  for (auto& [name, t] : weights) {  // std::map: name order
    bytes += name + shape_str(t.shape());
    Tensor c = t.contiguous();
    bytes.append(reinterpret_cast<const char*>(c.storage()->ptr) + c.offset() * 4, c.numel() * 4);
  }
  return data::sha256_hex(bytes).substr(0, 16);
}

nn::Metadata model_metadata(const TextToImageModel& model, const data::Vocabulary& vocab,
                            const nn::Metadata& extra) {
  nn::Metadata m = extra;
  m["format"] = "loradiff";
  m["config"] = model.config.to_json().dump();
  m["vocab"] = nlohmann::json(vocab.words()).dump();
  m["weights_hash"] = weights_hash(model.state_dict());
  // a compressed model (`loradiff compress`) lists its low-rank layers so load_model can rebuild it
  const nn::LowRankLayout low_rank = nn::low_rank_layout(model);
  if (!low_rank.empty()) m[nn::kLowRankMetadataKey] = nn::low_rank_layout_to_json(low_rank);
  else m.erase(nn::kLowRankMetadataKey);
  return m;
}

void save_model(const std::string& path, const TextToImageModel& model, const data::Vocabulary& vocab,
                const nn::Metadata& extra) {
  nn::save_checkpoint(path, model, model_metadata(model, vocab, extra));
}

std::string model_source(const std::string& path, const std::vector<std::string>& lora_specs) {
  std::string out = "model '" + path + "'";
  for (size_t i = 0; i < lora_specs.size(); ++i) out += (i == 0 ? " with --lora " : ", ") + lora_specs[i];
  return out;
}

LoadedModel load_model(const std::string& path) {
  nn::SafeTensors st = nn::load_safetensors(path);
  auto need = [&](const char* key) -> const std::string& {
    auto it = st.metadata.find(key);
    if (it == st.metadata.end())
      fail("model '", path, "': metadata has no '", key,
           "' entry; is this a loradiff checkpoint (written by `loradiff train`)?");
    return it->second;
  };
  ModelConfig cfg;
  std::vector<std::string> words;
  try {
    cfg = ModelConfig::from_json(nlohmann::json::parse(need("config")), path);
    words = nlohmann::json::parse(need("vocab")).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail("model '", path, "': metadata is not valid JSON: ", excerpt(e.what(), 160));
  }
  nn::check_finite(st.tensors, "model '" + path + "'");
  LoadedModel out;
  out.path = path;
  out.vocab = data::Vocabulary::from_words(words);
  out.metadata = st.metadata;
  out.model = build_model(cfg, out.vocab, 0);
  // A compressed checkpoint (docs/compression.md): the listed dense layers become low-rank
  // layers of the listed ranks, so that its U / V tensors have slots in the strict load below.
  if (auto it = st.metadata.find(nn::kLowRankMetadataKey); it != st.metadata.end())
    nn::apply_low_rank_layout(*out.model, nn::low_rank_layout_from_json(it->second, "model '" + path + "'"),
                              "model '" + path + "'");
  try {
    out.model->load_state_dict(st.tensors, /*strict=*/true);
  } catch (const Error& e) {
    fail("model '", path, "': ", e.what());
  }
  out.model->eval();
  return out;
}

}  // namespace ld::diffusion
