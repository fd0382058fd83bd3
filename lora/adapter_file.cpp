// lora/adapter_file.cpp: adapter files, their checks, and attaching them to a model (see adapter_file.h).
#include "lora/adapter_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/tokenizer.h"
#include "diffusion/model.h"
#include "diffusion/model_io.h"
#include "lora/adapter_formats.h"
#include "lora/attach.h"
#include "lora/lora_conv2d.h"
#include "lora/lora_linear.h"
#include "tensor/elementwise.h"
#include "tensor/excerpt.h"
#include "tensor/matmul.h"

namespace ld::lora {

namespace {

const std::string kA = ".lora_A.weight", kB = ".lora_B.weight";
const std::string kNewRows = "text.new_tokens.weight";

// The base weight's shape that (A, B) fits: (out, in) or (out, in, k, k).
Shape base_shape(const AdapterLayer& l) {
  if (l.A.dim() == 2) return {l.B.size(0), l.A.size(1)};
  return {l.B.size(0), l.A.size(1), l.A.size(2), l.A.size(3)};
}

std::string check_layer(const AdapterLayer& l) {
  const Tensor &A = l.A, &B = l.B;
  if (A.dtype() != DType::F32 || B.dtype() != DType::F32) return "lora_A and lora_B must be F32";
  if (A.dim() == 2 && B.dim() == 2) {
    if (B.size(1) != A.size(0))
      return str_cat("lora_A ", shape_str(A.shape()), " (r, in) and lora_B ", shape_str(B.shape()),
                     " (out, r) disagree on r");
  } else if (A.dim() == 4 && B.dim() == 4) {
    if (B.size(1) != A.size(0) || B.size(2) != 1 || B.size(3) != 1 || A.size(2) != A.size(3))
      return str_cat("lora_A ", shape_str(A.shape()), " must be (r, in, k, k) and lora_B ",
                     shape_str(B.shape()), " (out, r, 1, 1)");
  } else {
    return str_cat("lora_A ", shape_str(A.shape()), " and lora_B ", shape_str(B.shape()),
                   " must both be 2-D (Linear) or both 4-D (Conv2d)");
  }
  if (A.size(0) < 1) return "rank 0";
  if (has_non_finite(A) || has_non_finite(B)) return "holds NaN or Inf values";
  return "";
}

float parse_float(const std::string& text, const std::string& what, const std::string& source) {
  try {
    size_t used = 0;
    const float v = std::stof(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  fail("adapter '", source, "': metadata ", what, " '", excerpt(text), "' is not a number");
}

}  // namespace

int64_t Adapter::num_parameters() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.A.numel() + l.B.numel();
  return n;
}

Tensor Adapter::delta_matrix(size_t i) const {
  const AdapterLayer& l = layers.at(i);
  const int64_t r = l.rank();
  Tensor B = l.B.reshape({l.B.size(0), r});
  Tensor A = l.A.reshape({r, l.A.numel() / r});
  return mul_scalar(matmul(B, A), alpha / static_cast<float>(r));
}

Adapter adapter_from_model(const nn::Module& model, const std::string& name) {
  Adapter a;
  for (const auto& [layer_name, layer] : lora_layers(model)) {
    const int64_t i = layer->find_adapter(name);
    if (i < 0) continue;
    const LoRAAdapter& ad = layer->adapter(static_cast<size_t>(i));
    if (a.layers.empty()) a.alpha = ad.alpha;
    if (ad.alpha != a.alpha)
      fail("adapter '", name, "': alpha differs between layers (", a.alpha, " and ", ad.alpha, " in '",
           layer_name, "'); one file holds one alpha");
    a.layers.push_back({layer_name, ad.A().value().clone(), ad.B().value().clone()});
    a.rank = std::max(a.rank, ad.rank);
  }
  if (a.layers.empty()) fail("the model has no adapter called '", name, "'");
  std::sort(a.layers.begin(), a.layers.end(), [](auto& x, auto& y) { return x.name < y.name; });
  return a;
}

void adapter_to_safetensors(const Adapter& a, const std::string& path, nn::StateDict& tensors,
                            nn::Metadata& m) {
  if (a.layers.empty()) fail("save_adapter '", path, "': the adapter has no layers");
  if (!(a.alpha > 0)) fail("save_adapter '", path, "': alpha ", a.alpha, " must be > 0");
  for (const auto& l : a.layers) {
    const std::string problem = check_layer(l);
    if (!problem.empty()) fail("save_adapter '", path, "': layer '", l.name, "': ", problem);
    tensors[l.name + kA] = l.A;
    tensors[l.name + kB] = l.B;
  }
  m = a.extra;
  m["format"] = kAdapterFormat;
  m["rank"] = std::to_string(a.rank);
  m["alpha"] = str_cat(a.alpha);
  m["targets"] = nlohmann::json(a.targets).dump();
  m["layers"] = std::to_string(a.layers.size());
  if (!a.base_config.empty()) m["base_config"] = a.base_config;
  if (!a.base_weights_hash.empty()) m["base_weights_hash"] = a.base_weights_hash;
  if (!a.new_words.empty()) {
    if (!a.new_rows.defined() || a.new_rows.dim() != 2 || a.new_rows.size(0) != int64_t(a.new_words.size()))
      fail("save_adapter '", path, "': ", a.new_words.size(), " new words need as many embedding rows");
    m["new_tokens"] = nlohmann::json(a.new_words).dump();
    tensors[kNewRows] = a.new_rows;
  }
}

void save_adapter(const std::string& path, const Adapter& a) {
  nn::StateDict tensors;
  nn::Metadata m;
  adapter_to_safetensors(a, path, tensors, m);
  nn::save_safetensors(path, tensors, m);
}

Adapter read_adapter(const std::string& path) {
  if (std::filesystem::is_directory(path)) return read_peft_adapter(path);  // a PEFT folder
  nn::SafeTensors st = nn::load_safetensors(path);
  auto it = st.metadata.find("format");
  if (it == st.metadata.end() || it->second != kAdapterFormat) {
    // kohya's and PEFT's own layouts are told by their tensor names
    const std::optional<AdapterLayout> layout = layout_from_names(st);
    if (layout == AdapterLayout::Kohya) return read_kohya_adapter(path, std::move(st));
    if (layout == AdapterLayout::Peft) return read_peft_adapter(path);
    fail("adapter '", path, "': not a loradiff LoRA adapter (metadata 'format' is ",
         it == st.metadata.end() ? std::string("missing") : "'" + excerpt(it->second) + "'", ", expected '",
         kAdapterFormat, "'; no kohya lora_unet_* or PEFT base_model.model.* names either); a model ",
         "checkpoint goes to --model/--base, an adapter to --lora");
  }
  return adapter_from_safetensors(path, std::move(st));
}

Adapter adapter_from_safetensors(const std::string& path, nn::SafeTensors st) {
  Adapter a;
  a.source = path;
  if (!st.metadata.count("alpha")) fail("adapter '", path, "': metadata has no 'alpha'");
  nn::check_finite(st.tensors, "adapter '" + path + "'");
  a.alpha = parse_float(st.metadata.at("alpha"), "alpha", path);
  if (!(a.alpha > 0)) fail("adapter '", path, "': alpha ", a.alpha, " must be > 0");
  if (st.metadata.count("targets")) {
    try {
      a.targets = nlohmann::json::parse(st.metadata.at("targets")).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      fail("adapter '", path,
           "': metadata 'targets' is not a JSON list of strings: ", excerpt(e.what(), 160));
    }
  }
  if (st.metadata.count("base_config")) a.base_config = st.metadata.at("base_config");
  if (st.metadata.count("base_weights_hash")) a.base_weights_hash = st.metadata.at("base_weights_hash");
  for (const auto& [k, v] : st.metadata)
    if (k != "format" && k != "rank" && k != "alpha" && k != "targets" && k != "layers" &&
        k != "base_config" && k != "base_weights_hash")
      a.extra[k] = v;

  if (st.metadata.count("new_tokens")) {
    try {
      a.new_words = nlohmann::json::parse(st.metadata.at("new_tokens")).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      fail("adapter '", path,
           "': metadata 'new_tokens' is not a JSON list of words: ", excerpt(e.what(), 160));
    }
    auto it = st.tensors.find(kNewRows);
    if (it == st.tensors.end() || it->second.dim() != 2 || it->second.size(0) != int64_t(a.new_words.size()))
      fail("adapter '", path, "': metadata new_tokens lists ", a.new_words.size(), " words but tensor '",
           kNewRows, "' is ", it == st.tensors.end() ? std::string("missing") : shape_str(it->second.shape()),
           "; expected (", a.new_words.size(), ", text_dim)");
    for (const auto& w : a.new_words)
      if (data::split_words(w) != std::vector<std::string>{w})
        fail("adapter '", path, "': new token '", excerpt(w), "' is not one lower-case word");
    a.new_rows = it->second;
    st.tensors.erase(it);
    a.extra.erase("new_tokens");
  }
  std::map<std::string, AdapterLayer> by_name;
  for (const auto& [name, t] : st.tensors) {
    if (name.ends_with(kA))
      by_name[name.substr(0, name.size() - kA.size())].A = t;
    else if (name.ends_with(kB))
      by_name[name.substr(0, name.size() - kB.size())].B = t;
    else
      fail("adapter '", path, "': unexpected tensor '", excerpt(name, 120),
           "'; an adapter holds only <layer>", kA, " and <layer>", kB);
  }
  if (by_name.empty()) fail("adapter '", path, "': holds no layers");
  for (auto& [name, l] : by_name) {
    l.name = name;
    if (!l.A.defined()) fail("adapter '", path, "': layer '", name, "' has lora_B but no lora_A");
    if (!l.B.defined()) fail("adapter '", path, "': layer '", name, "' has lora_A but no lora_B");
    const std::string problem = check_layer(l);
    if (!problem.empty()) fail("adapter '", path, "': layer '", name, "': ", problem);
    a.rank = std::max(a.rank, l.rank());
    a.layers.push_back(l);
  }
  return a;
}

LoadAdapterReport load_adapter(nn::Module& model, const Adapter& a, float weight, const std::string& name) {
  const std::string src = a.source.empty() ? name : a.source;
  if (!std::isfinite(weight)) fail("adapter '", src, "': weight ", weight, " must be a finite number");
  // 1. every layer must exist and fit, before anything changes
  std::vector<std::string> problems;
  std::vector<std::shared_ptr<nn::Module>> modules;
  for (const auto& l : a.layers) {
    std::shared_ptr<nn::Module> m;
    try {
      m = model.get_module(l.name);
    } catch (const Error&) {
      problems.push_back(str_cat("layer '", l.name, "': the model has no such layer"));
      modules.push_back(nullptr);
      continue;
    }
    modules.push_back(m);
    const bool linear = std::dynamic_pointer_cast<nn::Linear>(m) || std::dynamic_pointer_cast<LoRALinear>(m);
    const bool conv = std::dynamic_pointer_cast<nn::Conv2d>(m) || std::dynamic_pointer_cast<LoRAConv2d>(m);
    if (!linear && !conv) {
      problems.push_back(str_cat("layer '", l.name, "': is a ", m->type_name(), ", not a Linear or Conv2d"));
      continue;
    }
    const Shape w = m->parameter("weight").shape();
    if (base_shape(l) != w || (linear && l.A.dim() != 2))
      problems.push_back(str_cat("layer '", l.name, "': lora_A ", shape_str(l.A.shape()), " and lora_B ",
                                 shape_str(l.B.shape()), " need a weight of shape ", shape_str(base_shape(l)),
                                 ", the model's is ", shape_str(w)));
    if (auto lora = std::dynamic_pointer_cast<LoRALayer>(m); lora && lora->find_adapter(name) >= 0)
      problems.push_back(str_cat("layer '", l.name, "': already has an adapter called '", name, "'"));
  }
  if (!problems.empty())
    fail("adapter '", src, "' does not fit the ", model.type_name(),
         " (nothing was attached): ", one_line_list(problems));
  // 1b. the weighted update of every layer, and the layer's weight with it merged, must be finite:
  // a weight like 1e38 or a huge alpha would otherwise only show as NaN images. The merged weight
  // is computed as LoRALayer::merge computes it (W + w ((alpha / r) B A), in that order), so an
  // adapter that loads at weight w can be merged at w (`--merge`, `lora merge`).
  for (size_t k = 0; k < a.layers.size(); ++k) {
    const AdapterLayer& l = a.layers[k];
    const float scale = a.alpha / static_cast<float>(l.rank());
    std::string what;
    if (!std::isfinite(scale) || !std::isfinite(weight * scale)) {
      what = "the scale w alpha / r";
    } else if (const Tensor delta = a.delta_matrix(k); has_non_finite(delta)) {  // (alpha / r) B A
      what = "the update (alpha / r) B A";
    } else {
      Tensor merged = modules[k]->parameter("weight").value().contiguous().reshape(delta.shape()).clone();
      axpy_(merged, weight, delta);
      if (has_non_finite(merged)) what = "the merged weight W + w (alpha / r) B A";
    }
    if (!what.empty())
      fail("adapter '", src, "' at weight ", weight, ": ", what, " of layer '", l.name,
           "' is not finite (w = ", weight, ", alpha = ", a.alpha, ", r = ", l.rank(),
           "); nothing was attached; ",
           what.starts_with("the update") ? "the adapter's values are too large for float32"
                                          : "use a smaller weight");
  }

  // 2. warnings: a different base
  LoadAdapterReport report;
  report.name = name;
  report.weight = weight;
  report.layers = static_cast<int64_t>(a.layers.size());
  if (auto* t2i = dynamic_cast<diffusion::TextToImageModel*>(&model); t2i && !a.base_config.empty()) {
    try {
      if (!diffusion::same_config(nlohmann::json::parse(a.base_config), t2i->config))
        report.warnings.push_back(str_cat("adapter '", src, "' was made for config ",
                                          excerpt(nlohmann::json::parse(a.base_config).value("name", "?")),
                                          ", this model is ", t2i->config.name));
    } catch (const nlohmann::json::exception&) {
      report.warnings.push_back(str_cat("adapter '", src, "': metadata base_config is not valid JSON"));
    }
  }
  const std::string hash = diffusion::weights_hash(base_state_dict(model));
  if (a.base_weights_hash.empty())
    report.warnings.push_back(
        str_cat("adapter '", src, "' does not record the base weights it was trained on"));
  else if (a.base_weights_hash != hash)
    report.warnings.push_back(str_cat("adapter '", src, "' was trained on base weights ",
                                      excerpt(a.base_weights_hash), ", but this model's are ", hash,
                                      "; it may not do what it did on its own base"));

  // 3. attach
  Generator unused(0);  // add_adapter draws an initial A; it is overwritten below
  for (size_t k = 0; k < a.layers.size(); ++k) {
    const AdapterLayer& l = a.layers[k];
    auto wrapped = std::dynamic_pointer_cast<LoRALayer>(modules[k]);
    if (!wrapped) {
      if (auto lin = std::dynamic_pointer_cast<nn::Linear>(modules[k]))
        wrapped = std::make_shared<LoRALinear>(lin);
      else
        wrapped = std::make_shared<LoRAConv2d>(std::dynamic_pointer_cast<nn::Conv2d>(modules[k]));
      model.replace_module(l.name, wrapped);
    }
    const size_t i = wrapped->add_adapter(name, l.rank(), a.alpha, weight, 0.0f, unused);
    Tensor A = wrapped->adapter(i).A().value(), B = wrapped->adapter(i).B().value();
    A.copy_(l.A);
    B.copy_(l.B);
  }
  return report;
}

namespace {

const char* kSpecForm =
    "FILE or FILE:WEIGHT[:down=a,mid=b,up=c,te=d][:start=s,end=e], e.g. nines.safetensors:0.8:up=1,start=0.5";

// A whole-string finite float, or nullopt; out of range fails.
std::optional<float> spec_number(const std::string& text, const std::string& spec, const std::string& what) {
  try {
    size_t used = 0;
    const float v = std::stof(text, &used);
    if (used != text.size()) return std::nullopt;
    if (!std::isfinite(v)) fail("--lora '", spec, "': ", what, " '", text, "' must be a finite number");
    return v;
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  } catch (const std::out_of_range&) {
    fail("--lora '", spec, "': ", what, " '", text, "' is out of range");
  }
}

// "down=0.5,mid=1" into s; every key known, every value a number, no key twice.
void parse_spec_options(const std::string& group, const std::string& spec, LoRASpec& s,
                        std::vector<std::string>& seen) {
  size_t from = 0;
  while (from <= group.size()) {
    const size_t comma = std::min(group.find(',', from), group.size());
    const std::string kv = group.substr(from, comma - from);
    from = comma + 1;
    const size_t eq = kv.find('=');
    if (eq == std::string::npos)
      fail("--lora '", spec, "': '", kv, "' is not key=value; expected ", kSpecForm);
    const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    const bool block = key == "te" || key == "down" || key == "mid" || key == "up";
    if (!block && key != "start" && key != "end")
      fail("--lora '", spec, "': unknown block or key '", key,
           "'; expected te, down, mid, up (block weights) or start, end (step fractions)");
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      fail("--lora '", spec, "': '", key, "' is given twice");
    seen.push_back(key);
    const std::optional<float> v = spec_number(value, spec, "the value of " + key);
    if (!v) fail("--lora '", spec, "': the value of ", key, " '", value, "' is not a number");
    if (block)
      s.blocks[key] = *v;
    else if (key == "start")
      s.start = *v;
    else
      s.end = *v;
  }
}

}  // namespace

float LoRASpec::weight_for(const std::string& layer_name) const {
  const auto it = blocks.find(lora_block_of(layer_name));
  return it == blocks.end() ? weight : it->second;
}

std::string lora_block_of(const std::string& n) {
  if (n.starts_with("text.")) return "te";
  if (n.starts_with("unet.down")) return "down";
  if (n.starts_with("unet.mid.")) return "mid";
  if (n.starts_with("unet.up")) return "up";
  return "";
}

LoRASpec parse_lora_spec(const std::string& spec) {
  LoRASpec s;
  std::string rest = spec;
  // trailing key=value groups first, then an optional weight; what is left is the path
  std::vector<std::string> seen;
  bool options = false;
  for (size_t colon = rest.rfind(':'); colon != std::string::npos; colon = rest.rfind(':')) {
    const std::string group = rest.substr(colon + 1);
    if (group == "te" || group == "down" || group == "mid" || group == "up" || group == "start" ||
        group == "end")
      fail("--lora '", spec, "': '", group, "' is not key=value; expected ", kSpecForm);
    if (group.find('=') == std::string::npos) break;
    parse_spec_options(group, spec, s, seen);
    rest = rest.substr(0, colon);
    options = true;
  }
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos && colon + 1 < rest.size()) {
    const std::string w = rest.substr(colon + 1);
    if (const std::optional<float> v = spec_number(w, spec, "the weight")) {
      rest = rest.substr(0, colon);
      s.weight = *v;
    } else if (options) {
      fail("--lora '", spec, "': the weight '", w, "' is not a number; expected ", kSpecForm);
    }
  }
  s.path = rest;
  if (s.path.empty()) fail("--lora '", spec, "': no file; expected ", kSpecForm);
  if (!(s.start >= 0 && s.start <= 1) || !(s.end >= 0 && s.end <= 1))
    fail("--lora '", spec, "': start ", s.start, " and end ", s.end,
         " must be fractions of the sampling steps in [0, 1]");
  if (!(s.start < s.end))
    fail("--lora '", spec, "': start ", s.start, " must be below end ", s.end,
         " (the adapter is active for start <= step / steps < end)");
  return s;
}

std::string adapter_display_name(const std::string& path) {
  return std::filesystem::path(path).stem().string();
}

void add_adapter_words(nn::Module& model, data::Vocabulary& vocab, const Adapter& a) {
  if (a.new_words.empty()) return;
  auto* t2i = dynamic_cast<diffusion::TextToImageModel*>(&model);
  if (!t2i) fail("adapter '", a.source, "' adds words, which only a text-to-image model can take");
  const int64_t D = t2i->text->tok_emb->dim;
  if (a.new_rows.size(1) != D)
    fail("adapter '", a.source, "': its new token rows are ", shape_str(a.new_rows.shape()),
         ", the model's token embedding is (", vocab.size(), ", ", D, ")");
  if (vocab.size() != t2i->text->tok_emb->num_embeddings + t2i->text->num_new_tokens())
    fail("adapter '", a.source, "': the vocabulary has ", vocab.size(), " words but the model's token table ",
         t2i->text->tok_emb->num_embeddings + t2i->text->num_new_tokens(), " rows");
  for (const auto& w : a.new_words)
    if (vocab.contains(w))
      fail("adapter '", a.source, "' adds the word '", excerpt(w), "', which the vocabulary already has; ",
           "load one adapter per new word, on a base without it");
  std::vector<std::string> words = vocab.words();
  words.insert(words.end(), a.new_words.begin(), a.new_words.end());
  t2i->text->add_token_rows(a.new_rows);
  vocab = data::Vocabulary::from_words(words);
}

std::vector<LoadAdapterReport> load_lora_specs(nn::Module& model, const std::vector<std::string>& specs,
                                               data::Vocabulary* vocab) {
  std::vector<LoadAdapterReport> reports;
  for (const auto& spec : specs) {
    const LoRASpec s = parse_lora_spec(spec);
    const std::string stem = adapter_display_name(s.path);
    std::string name = stem;
    auto taken = [&](const std::string& n) {
      return std::any_of(reports.begin(), reports.end(), [&](const auto& r) { return r.name == n; });
    };
    for (int k = 2; taken(name); ++k) name = str_cat(stem, "_", k);
    const Adapter adapter = read_adapter(s.path);
    // attached at the largest |weight| it will have, so load_adapter's finiteness check covers every block
    float check = s.weight;
    for (const auto& [_, w] : s.blocks)
      if (std::fabs(w) > std::fabs(check)) check = w;
    LoadAdapterReport r = load_adapter(model, adapter, check, name);
    r.weight = s.weight;
    r.start = s.start;
    r.end = s.end;
    for (const auto& [layer_name, layer] : lora_layers(model))
      if (const int64_t i = layer->find_adapter(name); i >= 0)
        layer->adapter(static_cast<size_t>(i)).weight = s.weight_for(layer_name);
    // new words ride with the text encoder: off at te weight 0, so weight 0 is the base bit for bit
    if (vocab && !adapter.new_words.empty() && s.weight_for("text.") != 0.0f) {
      add_adapter_words(model, *vocab, adapter);
      r.new_words = adapter.new_words;
    }
    reports.push_back(std::move(r));
  }
  return reports;
}

std::function<void(int64_t, int64_t)> adapter_step_schedule(nn::Module& model,
                                                            const std::vector<LoadAdapterReport>& reports) {
  struct Slot {
    LoRAAdapter* adapter;
    float weight;  // when active
    float start, end;
  };
  std::vector<Slot> slots;
  for (const auto& r : reports) {
    if (r.start == 0.0f && r.end == 1.0f) continue;
    for (const auto& [_, layer] : lora_layers(model))
      if (const int64_t i = layer->find_adapter(r.name); i >= 0) {
        LoRAAdapter& a = layer->adapter(static_cast<size_t>(i));
        slots.push_back({&a, a.weight, r.start, r.end});
      }
  }
  if (slots.empty()) return {};
  // the layers stay owned by the model, which outlives the sampling that calls this
  return [slots](int64_t index, int64_t total) {
    const double f = total > 0 ? static_cast<double>(index) / static_cast<double>(total) : 0.0;
    for (const Slot& s : slots) s.adapter->weight = (s.start <= f && f < s.end) ? s.weight : 0.0f;
  };
}

}  // namespace ld::lora
