// lora/adapter_formats.cpp: kohya and PEFT adapter layouts to and from loradiff's (see adapter_formats.h).
#include "lora/adapter_formats.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "data/vocab.h"
#include "diffusion/config.h"
#include "diffusion/model_io.h"
#include "tensor/elementwise.h"
#include "tensor/excerpt.h"
#include "tensor/file_io.h"

namespace ld::lora {

namespace fs = std::filesystem;

namespace {

const std::string kA = ".lora_A.weight", kB = ".lora_B.weight";
const std::string kDown = ".lora_down.weight", kUp = ".lora_up.weight", kAlpha = ".alpha";
const std::string kPeftPrefix = "base_model.model.";
const char* kPeftWeights = "adapter_model.safetensors";
const char* kPeftConfig = "adapter_config.json";
// metadata the kohya layout spells itself; regenerated on writing, so not kept in `extra`
const char* kKohyaKeys[] = {"ss_network_dim", "ss_network_alpha", "ss_network_module"};

bool is_kohya_key(const std::string& k) {
  return (k.starts_with("lora_unet_") || k.starts_with("lora_te_")) &&
         (k.ends_with(kDown) || k.ends_with(kUp) || k.ends_with(kAlpha));
}

bool is_peft_key(const std::string& k) {
  return k.starts_with(kPeftPrefix) && (k.ends_with(kA) || k.ends_with(kB));
}

std::optional<float> to_float(const std::string& text) {
  try {
    size_t used = 0;
    const float v = std::stof(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// kohya name -> module name, over the modules of the model a config builds.
std::unordered_map<std::string, std::string> kohya_names_of(const diffusion::ModelConfig& cfg) {
  auto model = diffusion::build_model(cfg, data::Vocabulary::builtin(), 0);
  std::unordered_map<std::string, std::string> names;
  for (const auto& [name, _] : model->named_modules()) names[kohya_name(name)] = name;
  return names;
}

}  // namespace

const char* layout_name(AdapterLayout l) {
  switch (l) {
    case AdapterLayout::Loradiff:
      return "loradiff";
    case AdapterLayout::Kohya:
      return "kohya";
    case AdapterLayout::Peft:
      return "peft";
  }
  return "?";
}

AdapterLayout parse_layout(const std::string& text, const std::string& option) {
  if (text == "loradiff") return AdapterLayout::Loradiff;
  if (text == "kohya") return AdapterLayout::Kohya;
  if (text == "peft") return AdapterLayout::Peft;
  fail(option, ": '", excerpt(text), "' is not an adapter layout; expected kohya, peft or loradiff");
}

std::string kohya_name(const std::string& layer) {
  std::string rest;
  std::string prefix;
  if (layer.starts_with("unet.")) {
    prefix = "lora_unet_";
    rest = layer.substr(5);
  } else if (layer.starts_with("text.")) {
    prefix = "lora_te_";
    rest = layer.substr(5);
  } else {
    prefix = "lora_";
    rest = layer;
  }
  std::replace(rest.begin(), rest.end(), '.', '_');
  return prefix + rest;
}

std::optional<AdapterLayout> layout_from_names(const nn::SafeTensors& st) {
  if (st.tensors.empty()) return std::nullopt;
  const bool kohya =
      std::all_of(st.tensors.begin(), st.tensors.end(), [](auto& kv) { return is_kohya_key(kv.first); });
  if (kohya) return AdapterLayout::Kohya;
  const bool peft =
      std::all_of(st.tensors.begin(), st.tensors.end(), [](auto& kv) { return is_peft_key(kv.first); });
  if (peft) return AdapterLayout::Peft;
  const bool ours = std::all_of(st.tensors.begin(), st.tensors.end(), [](auto& kv) {
    return kv.first.ends_with(kA) || kv.first.ends_with(kB) ||
           kv.first == "text.new_tokens.weight";  // an adapter's new words
  });
  if (ours && st.metadata.count("format") && st.metadata.at("format") == kAdapterFormat)
    return AdapterLayout::Loradiff;
  return std::nullopt;
}

std::string peft_weights_file(const std::string& path) {
  return fs::is_directory(path) ? (fs::path(path) / kPeftWeights).string() : path;
}

AdapterLayout detect_layout(const std::string& path) {
  if (fs::is_directory(path)) {
    if (!fs::is_regular_file(fs::path(path) / kPeftWeights))
      fail("adapter '", path, "': it is a directory, not a regular file, nor a PEFT adapter folder (no ",
           kPeftWeights, " in it)");
    return AdapterLayout::Peft;
  }
  const nn::SafeTensors st = nn::load_safetensors(path);
  if (auto l = layout_from_names(st)) return *l;
  const std::string first = st.tensors.empty() ? std::string("(none)") : st.tensors.begin()->first;
  fail("adapter '", path, "': unknown layout (tensor '", excerpt(first, 120),
       "'); expected loradiff (<layer>.lora_A.weight / .lora_B.weight, format 'loradiff-lora'), kohya "
       "(lora_unet_<path>.lora_down.weight / .lora_up.weight / .alpha) or PEFT "
       "(base_model.model.<layer>.lora_A.weight / .lora_B.weight)");
}

void save_adapter_as(const std::string& path, const Adapter& adapter, AdapterLayout layout) {
  nn::StateDict ours;
  nn::Metadata meta;
  adapter_to_safetensors(adapter, path, ours, meta);
  if (layout == AdapterLayout::Loradiff) {
    nn::save_safetensors(path, ours, meta);
    return;
  }
  if (!adapter.new_words.empty())
    fail("adapter '", adapter.source, "' adds words (", nlohmann::json(adapter.new_words).dump(), "); the ",
         layout_name(layout), " layout has no place for them: keep it in the loradiff layout");
  meta.erase("format");  // only loradiff's own layout says "loradiff-lora"
  nn::StateDict out;
  if (layout == AdapterLayout::Kohya) {
    for (const AdapterLayer& l : adapter.layers) {
      const std::string k = kohya_name(l.name);
      out[k + kDown] = l.A;
      out[k + kUp] = l.B;
      out[k + kAlpha] = Tensor::from_vector({adapter.alpha}, Shape{});
    }
    meta["ss_network_dim"] = std::to_string(adapter.rank);
    meta["ss_network_alpha"] = str_cat(adapter.alpha);
    meta["ss_network_module"] = "networks.lora";
    nn::save_safetensors(path, out, meta);
    return;
  }
  // PEFT: a folder with the weights and the config
  for (const AdapterLayer& l : adapter.layers) {
    out[kPeftPrefix + l.name + kA] = l.A;
    out[kPeftPrefix + l.name + kB] = l.B;
  }
  nlohmann::json cfg{{"peft_type", "LORA"},
                     {"r", adapter.rank},
                     {"lora_alpha", adapter.alpha},
                     {"target_modules", nlohmann::json::array()},
                     {"bias", "none"},
                     {"lora_dropout", 0.0},
                     {"fan_in_fan_out", false},
                     {"base_model_name_or_path", nullptr},
                     {"task_type", nullptr}};
  nlohmann::json rank_pattern = nlohmann::json::object();
  for (const AdapterLayer& l : adapter.layers) {
    cfg["target_modules"].push_back(l.name);
    if (l.rank() != adapter.rank) rank_pattern[l.name] = l.rank();
  }
  if (!rank_pattern.empty()) cfg["rank_pattern"] = rank_pattern;
  const PeftPaths p = peft_paths(path);
  if (!fs::is_directory(p.folder)) fs::create_directories(p.folder);
  nn::save_safetensors(p.weights, out, meta);
  write_file_atomic(p.config, cfg.dump(2) + "\n");
}

PeftPaths peft_paths(const std::string& out) {
  // "x.safetensors": that file, adapter_config.json beside it; anything else: a folder holding both
  const fs::path o(out);
  const fs::path folder = o.extension() == ".safetensors" ? (o.has_parent_path() ? o.parent_path() : ".") : o;
  return {folder.string(), o.extension() == ".safetensors" ? out : (folder / kPeftWeights).string(),
          (folder / kPeftConfig).string()};
}

Adapter read_kohya_adapter(const std::string& path, nn::SafeTensors st) {
  // the layers, by kohya prefix
  std::map<std::string, std::map<std::string, Tensor>> parts;  // prefix -> {down, up, alpha}
  for (auto& [k, t] : st.tensors) {
    for (const std::string* suf : {&kDown, &kUp, &kAlpha})
      if (k.ends_with(*suf)) {
        parts[k.substr(0, k.size() - suf->size())][*suf] = t;
        break;
      }
  }
  // module names: the recorded base config's model first, then each built-in config
  std::vector<diffusion::ModelConfig> configs;
  if (st.metadata.count("base_config")) {
    try {
      configs.push_back(diffusion::ModelConfig::from_json(
          nlohmann::json::parse(st.metadata.at("base_config")), "adapter '" + path + "' base_config"));
    } catch (const std::exception&) {
    }
  }
  for (const auto& n : diffusion::builtin_config_names()) configs.push_back(diffusion::load_config(n));
  std::unordered_map<std::string, std::string> names;
  std::string unresolved;
  for (const auto& cfg : configs) {
    names = kohya_names_of(cfg);
    unresolved.clear();
    for (const auto& [prefix, _] : parts)
      if (!names.count(prefix)) {
        unresolved = prefix;
        break;
      }
    if (unresolved.empty()) break;
  }
  if (!unresolved.empty())
    fail("adapter '", path, "': kohya layer '", excerpt(unresolved, 120),
         "' names no module of a loradiff model (expected lora_unet_<module path with _ for .>, e.g. "
         "lora_unet_mid_attn_self_attn_to_q)");

  // one alpha per file: ours (round trip), else ss_network_alpha, else the first layer's
  std::optional<float> alpha;
  if (st.metadata.count("alpha")) alpha = to_float(st.metadata.at("alpha"));
  if (!alpha && st.metadata.count("ss_network_alpha")) alpha = to_float(st.metadata.at("ss_network_alpha"));
  nn::SafeTensors ours;
  for (auto& [prefix, p] : parts) {
    if (!p.count(kDown) || !p.count(kUp))
      fail("adapter '", path, "': kohya layer '", excerpt(prefix, 120), "' needs both ", kDown, " and ", kUp);
    const Tensor& A = p.at(kDown);
    Tensor B = p.at(kUp);
    const int64_t r = A.dim() >= 1 ? A.size(0) : 0;
    float layer_alpha = static_cast<float>(r);  // kohya: no .alpha means alpha = r (scale 1)
    if (p.count(kAlpha)) {
      const Tensor& at = p.at(kAlpha);
      if (at.numel() != 1 || at.dtype() != DType::F32)
        fail("adapter '", path, "': kohya '", excerpt(prefix, 120), kAlpha, "' must hold one float");
      layer_alpha = at.contiguous().f32()[0];
    }
    if (!alpha) alpha = layer_alpha;
    // a layer with its own alpha keeps its update: B scaled by alpha_l / alpha
    if (layer_alpha != *alpha) B = mul_scalar(B, layer_alpha / *alpha);
    const std::string name = names.at(prefix);
    ours.tensors[name + kA] = A;
    ours.tensors[name + kB] = B;
  }
  ours.metadata = st.metadata;
  for (const char* k : kKohyaKeys) ours.metadata.erase(k);
  ours.metadata["format"] = kAdapterFormat;
  ours.metadata["alpha"] = str_cat(*alpha);
  if (!ours.metadata.count("targets")) {
    std::vector<std::string> targets;
    for (auto& [prefix, _] : parts) targets.push_back(names.at(prefix));
    ours.metadata["targets"] = nlohmann::json(targets).dump();
  }
  return adapter_from_safetensors(path, std::move(ours));
}

Adapter read_peft_adapter(const std::string& path) {
  const std::string weights = peft_weights_file(path);
  if (fs::is_directory(path) && !fs::is_regular_file(weights))
    fail("adapter '", path, "': it is a directory, not a regular file, nor a PEFT adapter folder (no ",
         kPeftWeights, " in it)");
  nn::SafeTensors st = nn::load_safetensors(weights);
  const fs::path cfg_path = fs::path(weights).parent_path() / kPeftConfig;
  nlohmann::json cfg = nlohmann::json::object();
  if (fs::is_regular_file(cfg_path)) {
    std::ifstream in(cfg_path);
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      cfg = nlohmann::json::parse(ss.str());
    } catch (const nlohmann::json::exception& e) {
      fail("adapter '", path, "': ", cfg_path.string(), " is not JSON: ", excerpt(e.what(), 160));
    }
    if (!cfg.is_object() || cfg.value("peft_type", std::string("LORA")) != "LORA")
      fail("adapter '", path, "': ", cfg_path.string(),
           " is not a LoRA adapter config (peft_type must be \"LORA\")");
    if (cfg.value("use_rslora", false))
      fail("adapter '", path, "': use_rslora (scale alpha / sqrt(r)) is not supported; expected plain LoRA");
  }
  nn::SafeTensors ours;
  for (auto& [k, t] : st.tensors) {
    if (!is_peft_key(k))
      fail("adapter '", path, "': unexpected tensor '", excerpt(k, 120), "'; a PEFT adapter holds only ",
           kPeftPrefix, "<layer>", kA, " and ", kB);
    ours.tensors[k.substr(kPeftPrefix.size())] = t;
  }
  ours.metadata = st.metadata;
  ours.metadata["format"] = kAdapterFormat;
  if (!ours.metadata.count("alpha")) {
    float alpha = 8;  // PEFT's LoraConfig default
    if (cfg.contains("lora_alpha") && cfg["lora_alpha"].is_number()) alpha = cfg["lora_alpha"].get<float>();
    ours.metadata["alpha"] = str_cat(alpha);
  }
  if (!ours.metadata.count("targets") && cfg.contains("target_modules") && cfg["target_modules"].is_array())
    ours.metadata["targets"] = cfg["target_modules"].dump();
  return adapter_from_safetensors(path, std::move(ours));
}

}  // namespace ld::lora
