// lora/attach.cpp: adapters by name pattern, freezing, model-wide merge (see attach.h; Fig. 2).
#include "lora/attach.h"

#include <sstream>

#include "lora/lora_conv2d.h"
#include "lora/lora_linear.h"
#include "tensor/elementwise.h"

namespace ld::lora {

std::vector<std::string> default_targets() {
  return {"unet.*.to_q", "unet.*.to_k", "unet.*.to_v", "unet.*.to_out"};
}

std::vector<std::string> text_encoder_targets() {
  return {"text.*.to_q", "text.*.to_k", "text.*.to_v", "text.*.to_out"};
}

std::vector<std::string> split_patterns(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    const size_t b = part.find_first_not_of(" \t"), e = part.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(part.substr(b, e - b + 1));
  }
  return out;
}

namespace {

// '*' matches any run of characters (dots included); everything else literally.
bool glob(const char* p, const char* s) {
  if (*p == '\0') return *s == '\0';
  if (*p == '*') {
    for (const char* t = s;; ++t) {
      if (glob(p + 1, t)) return true;
      if (*t == '\0') return false;
    }
  }
  return *s != '\0' && *p == *s && glob(p + 1, s + 1);
}

// Modules inside a LoRA layer (its lora_A, lora_B, dropout) are never targets themselves.
bool inside_adapter(const std::string& name) {
  return name.rfind("lora_", 0) == 0 || name.find(".lora_") != std::string::npos;
}

bool adaptable(const std::shared_ptr<nn::Module>& m) {
  return std::dynamic_pointer_cast<nn::Linear>(m) || std::dynamic_pointer_cast<nn::Conv2d>(m) ||
         std::dynamic_pointer_cast<LoRALayer>(m);
}

}  // namespace

bool matches_target(const std::string& name, const std::string& pattern) {
  if (pattern.find('*') != std::string::npos) return glob(pattern.c_str(), name.c_str());
  if (pattern.find('.') == std::string::npos) {
    const size_t dot = name.rfind('.');
    return (dot == std::string::npos ? name : name.substr(dot + 1)) == pattern;
  }
  return name == pattern;
}

std::vector<std::string> find_targets(const nn::Module& model, const std::vector<std::string>& patterns) {
  if (patterns.empty()) fail("--targets: no target patterns given (e.g. to_q,to_k,to_v,to_out)");
  std::vector<std::string> names;
  std::vector<bool> used(patterns.size(), false);
  for (const auto& [name, m] : model.named_modules()) {
    if (inside_adapter(name) || !adaptable(m)) continue;
    bool hit = false;
    for (size_t i = 0; i < patterns.size(); ++i)
      if (matches_target(name, patterns[i])) used[i] = hit = true;
    if (hit) names.push_back(name);
  }
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (used[i]) continue;
    // The name matches, but the layer is not dense: say what it is (a compressed model's).
    for (const auto& [name, m] : model.named_modules())
      if (!inside_adapter(name) && !name.empty() && matches_target(name, patterns[i]))
        fail("--targets: pattern '", patterns[i], "' matches '", name, "', a ", m->type_name(),
             m->type_name().rfind("LowRank", 0) == 0
                 ? " of a model compressed by `loradiff compress`; LoRA attaches to dense Linear and Conv2d "
                   "layers only: train the adapter on the dense model, or fine-tune the compressed one "
                   "(`compress --finetune-steps`)"
                 : ", not a Linear or Conv2d layer that LoRA can adapt");
    fail("--targets: pattern '", patterns[i], "' matches no Linear or Conv2d layer of the ",
         model.type_name(),
         " (names look like 'unet.down1.attn.self_attn.to_q'; '*' matches any characters)");
  }
  return names;
}

AttachReport attach_lora(nn::Module& model, const LoRAConfig& c, const std::string& name) {
  if (c.rank < 1) fail("--rank: ", c.rank, " must be >= 1");
  if (!(c.alpha > 0)) fail("--alpha: ", c.alpha, " must be > 0");
  if (!(c.dropout >= 0 && c.dropout < 1)) fail("--dropout: ", c.dropout, " must be in [0, 1)");
  AttachReport r;
  r.layers = find_targets(model, c.targets);
  // Check every layer first, so a bad rank or name leaves the model untouched.
  for (const auto& layer : r.layers) {
    std::shared_ptr<nn::Module> m = model.get_module(layer);
    if (auto l = std::dynamic_pointer_cast<LoRALayer>(m); l && l->find_adapter(name) >= 0)
      fail("attach_lora: layer '", layer, "' already has an adapter called '", name, "'");
    const Var& w = m->parameter("weight");
    const int64_t fan_in = w.value().numel() / w.size(0);
    if (c.rank > std::min(w.size(0), fan_in))
      fail("--rank: ", c.rank, " is larger than layer '", layer, "' (", w.size(0), " x ", fan_in,
           "); a low-rank adapter needs r <= min(out, in)");
  }
  Generator gen(c.seed);
  for (const auto& layer : r.layers) {
    std::shared_ptr<nn::Module> m = model.get_module(layer);
    auto wrapped = std::dynamic_pointer_cast<LoRALayer>(m);
    if (!wrapped) {
      if (auto lin = std::dynamic_pointer_cast<nn::Linear>(m))
        wrapped = std::make_shared<LoRALinear>(lin);
      else
        wrapped = std::make_shared<LoRAConv2d>(std::dynamic_pointer_cast<nn::Conv2d>(m));
      model.replace_module(layer, wrapped);
    }
    const size_t i = wrapped->add_adapter(name, c.rank, c.alpha, 1.0f, c.dropout, gen);
    r.adapter_params += wrapped->adapter(i).A().value().numel() + wrapped->adapter(i).B().value().numel();
  }
  train_only_adapter(model, name);
  r.base_params = count_base_parameters(model);
  return r;
}

std::vector<std::pair<std::string, std::shared_ptr<LoRALayer>>> lora_layers(const nn::Module& model) {
  std::vector<std::pair<std::string, std::shared_ptr<LoRALayer>>> out;
  for (const auto& [name, m] : model.named_modules())
    if (auto l = std::dynamic_pointer_cast<LoRALayer>(m)) out.push_back({name, l});
  return out;
}

bool is_adapter_parameter(const std::string& name) {
  // text.new_tokens.weight: the rows of words an adapter adds (TextEncoder::add_token_rows)
  return name.rfind("lora_", 0) == 0 || name.find(".lora_") != std::string::npos ||
         name.starts_with("text.new_tokens.");
}

nn::StateDict base_state_dict(const nn::Module& model) {
  nn::StateDict d;
  for (const auto& [name, p] : model.named_parameters())
    if (!is_adapter_parameter(name)) d[name] = p.value().clone();
  return d;
}

int64_t count_base_parameters(const nn::Module& model) {
  int64_t n = 0;
  for (const auto& [name, p] : model.named_parameters())
    if (!is_adapter_parameter(name)) n += p.value().numel();
  return n;
}

int64_t count_adapter_parameters(const nn::Module& model) {
  return model.num_parameters() - count_base_parameters(model);
}

void train_only_adapter(nn::Module& model, const std::string& name) {
  model.requires_grad(false);
  for (auto& [_, layer] : lora_layers(model)) {
    const int64_t i = layer->find_adapter(name);
    if (i < 0) continue;
    layer->adapter(static_cast<size_t>(i)).A().set_requires_grad(true);
    layer->adapter(static_cast<size_t>(i)).B().set_requires_grad(true);
  }
}

int64_t set_adapter_weight(nn::Module& model, const std::string& name, float weight) {
  int64_t n = 0;
  for (auto& [layer_name, layer] : lora_layers(model)) {
    const int64_t i = layer->find_adapter(name);
    if (i < 0) continue;
    LoRAAdapter& a = layer->adapter(static_cast<size_t>(i));
    if (a.merged)
      fail("set_adapter_weight: adapter '", name, "' is merged in '", layer_name, "'; unmerge it first");
    a.weight = weight;
    ++n;
  }
  return n;
}

void merge_lora(nn::Module& model) {
  // Every layer's merged weight is checked before any layer changes: weights whose merge
  // overflows (a huge --lora weight or alpha) leave the whole model as it was.
  for (auto& [name, layer] : lora_layers(model)) {
    Tensor w = layer->weight.value().clone();
    std::string adapters;
    for (size_t i = 0; i < layer->num_adapters(); ++i) {
      const LoRAAdapter& a = layer->adapter(i);
      if (a.merged) continue;
      axpy_(w, a.weight, layer->delta_weight(i));
      adapters += str_cat(adapters.empty() ? "" : ", ", "'", a.name, "' at weight ", a.weight);
    }
    if (has_non_finite(w))
      fail("merge: layer '", name, "' would hold non-finite weights after merging adapter(s) ", adapters,
           "; nothing was merged; use smaller weights");
  }
  for (auto& [_, layer] : lora_layers(model))
    for (size_t i = 0; i < layer->num_adapters(); ++i)
      if (!layer->adapter(i).merged) layer->merge(i);
}

void unmerge_lora(nn::Module& model) {
  for (auto& [_, layer] : lora_layers(model))
    for (size_t i = layer->num_adapters(); i-- > 0;)
      if (layer->adapter(i).merged) layer->unmerge(i);
}

int64_t remove_lora(nn::Module& model) {
  int64_t n = 0;
  for (auto& [name, layer] : lora_layers(model)) {
    model.replace_module(name, layer->base());
    ++n;
  }
  return n;
}

}  // namespace ld::lora
