// lora/adapter_file.cpp: adapter files, their checks, and attaching them to a model (see adapter_file.h).
#include "lora/adapter_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "diffusion/model.h"
#include "diffusion/model_io.h"
#include "lora/attach.h"
#include "lora/lora_conv2d.h"
#include "lora/lora_linear.h"
#include "tensor/elementwise.h"
#include "tensor/excerpt.h"
#include "tensor/matmul.h"

namespace ld::lora {

namespace {

const std::string kA = ".lora_A.weight", kB = ".lora_B.weight";

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

void save_adapter(const std::string& path, const Adapter& a) {
  if (a.layers.empty()) fail("save_adapter '", path, "': the adapter has no layers");
  if (!(a.alpha > 0)) fail("save_adapter '", path, "': alpha ", a.alpha, " must be > 0");
  nn::StateDict tensors;
  for (const auto& l : a.layers) {
    const std::string problem = check_layer(l);
    if (!problem.empty()) fail("save_adapter '", path, "': layer '", l.name, "': ", problem);
    tensors[l.name + kA] = l.A;
    tensors[l.name + kB] = l.B;
  }
  nn::Metadata m = a.extra;
  m["format"] = kAdapterFormat;
  m["rank"] = std::to_string(a.rank);
  m["alpha"] = str_cat(a.alpha);
  m["targets"] = nlohmann::json(a.targets).dump();
  m["layers"] = std::to_string(a.layers.size());
  if (!a.base_config.empty()) m["base_config"] = a.base_config;
  if (!a.base_weights_hash.empty()) m["base_weights_hash"] = a.base_weights_hash;
  nn::save_safetensors(path, tensors, m);
}

Adapter read_adapter(const std::string& path) {
  nn::SafeTensors st = nn::load_safetensors(path);
  Adapter a;
  a.source = path;
  auto it = st.metadata.find("format");
  if (it == st.metadata.end() || it->second != kAdapterFormat)
    fail("adapter '", path, "': not a loradiff LoRA adapter (metadata 'format' is ",
         it == st.metadata.end() ? std::string("missing") : "'" + excerpt(it->second) + "'", ", expected '",
         kAdapterFormat, "'); a model checkpoint goes to --model/--base, an adapter to --lora");
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
  // a weight like 1e38 or a huge alpha would otherwise only show as NaN images
  for (size_t k = 0; k < a.layers.size(); ++k) {
    const AdapterLayer& l = a.layers[k];
    const float scale = weight * a.alpha / static_cast<float>(l.rank());
    const Tensor W = modules[k]->parameter("weight").value();
    std::string what;
    if (!std::isfinite(scale)) {
      what = "the scale w alpha / r";
    } else {
      const Tensor delta = mul_scalar(
          matmul(l.B.reshape({l.B.size(0), l.rank()}), l.A.reshape({l.rank(), l.A.numel() / l.rank()})),
          scale);
      if (has_non_finite(delta))
        what = "the update w (alpha / r) B A";
      else if (has_non_finite(add(W.contiguous().reshape(delta.shape()), delta)))
        what = "the merged weight W + w (alpha / r) B A";
    }
    if (!what.empty())
      fail("adapter '", src, "' at weight ", weight, ": ", what, " of layer '", l.name,
           "' is not finite (w = ", weight, ", alpha = ", a.alpha, ", r = ", l.rank(),
           "); nothing was attached; use a smaller weight");
  }

  // 2. warnings: a different base
  LoadAdapterReport report;
  report.name = name;
  report.weight = weight;
  report.layers = static_cast<int64_t>(a.layers.size());
  if (auto* t2i = dynamic_cast<diffusion::TextToImageModel*>(&model); t2i && !a.base_config.empty()) {
    try {
      if (nlohmann::json::parse(a.base_config) != t2i->config.to_json())
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

LoRASpec parse_lora_spec(const std::string& spec) {
  LoRASpec s;
  s.path = spec;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon + 1 < spec.size()) {
    const std::string w = spec.substr(colon + 1);
    try {
      size_t used = 0;
      const float v = std::stof(w, &used);
      if (used == w.size()) {
        if (!std::isfinite(v)) fail("--lora '", spec, "': the weight '", w, "' must be a finite number");
        s.path = spec.substr(0, colon);
        s.weight = v;
      }
    } catch (const std::invalid_argument&) {
    } catch (const std::out_of_range&) {
      fail("--lora '", spec, "': the weight '", w, "' is out of range");
    }
  }
  if (s.path.empty()) fail("--lora '", spec, "': expected FILE or FILE:WEIGHT, e.g. nines.safetensors:0.8");
  return s;
}

std::string adapter_display_name(const std::string& path) {
  return std::filesystem::path(path).stem().string();
}

std::vector<LoadAdapterReport> load_lora_specs(nn::Module& model, const std::vector<std::string>& specs) {
  std::vector<LoadAdapterReport> reports;
  for (const auto& spec : specs) {
    const LoRASpec s = parse_lora_spec(spec);
    const std::string stem = adapter_display_name(s.path);
    std::string name = stem;
    auto taken = [&](const std::string& n) {
      return std::any_of(reports.begin(), reports.end(), [&](const auto& r) { return r.name == n; });
    };
    for (int k = 2; taken(name); ++k) name = str_cat(stem, "_", k);
    reports.push_back(load_adapter(model, read_adapter(s.path), s.weight, name));
  }
  return reports;
}

}  // namespace ld::lora
