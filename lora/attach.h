// lora/attach.h: putting adapters into a model by layer name (article Fig. 2), freezing the
// rest, and the model-wide merge / unmerge / removal.
//
//   UNet AttnBlock (one of 5 in mnist-t2i)                 after attach_lora (defaults):
//     self_attn.{to_q,to_k,to_v,to_out}:  Linear    ->    LoRALinear (W0 frozen, + B A)
//     cross_attn.{to_q,to_k,to_v,to_out}: Linear    ->    LoRALinear
//     everything else (convs, norms, ff, text encoder)   unchanged, frozen
//
// Target patterns select modules by their dotted name (`unet.down1.attn.self_attn.to_q`):
//   - a pattern with '*' is a glob over the whole name; '*' matches any run of characters,
//     dots included: "unet.*.to_q", "unet.mid.*", "*.proj_in";
//   - a pattern without '*' or '.' matches the last name part: "to_q" is "*.to_q";
//   - any other pattern is an exact name: "unet.mid.attn.cross_attn.to_k".
// Linear layers get a LoRALinear; Conv2d layers (only when a pattern names them) a LoRAConv2d.
// The defaults are the reference model's LoRA workload: to_q, to_k, to_v, to_out of every
// attention, self and cross, in the UNet. The text encoder is adapted only when asked
// (text_encoder_targets()).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "lora/lora_layer.h"

namespace ld::lora {

// {"unet.*.to_q", "unet.*.to_k", "unet.*.to_v", "unet.*.to_out"}
std::vector<std::string> default_targets();
// The same four projections in the text encoder: {"text.*.to_q", ...}.
std::vector<std::string> text_encoder_targets();
// "a,b, c" -> {"a", "b", "c"}; empty parts are dropped.
std::vector<std::string> split_patterns(const std::string& comma_separated);

bool matches_target(const std::string& module_name, const std::string& pattern);

// The names of the Linear / Conv2d modules (or layers already wrapped) matched by any
// pattern, in model order. Fails naming a pattern that matches no such module.
std::vector<std::string> find_targets(const nn::Module& model, const std::vector<std::string>& patterns);

struct LoRAConfig {
  int64_t rank = 4;
  float alpha = 4;
  float dropout = 0;  // on the adapter input, training only
  std::vector<std::string> targets = default_targets();
  uint64_t seed = 0;  // draws of A (and the dropout generators)
};

struct AttachReport {
  std::vector<std::string> layers;  // adapted modules
  int64_t adapter_params = 0;       // elements of every new A and B: the trainable parameters
  int64_t base_params = 0;          // the model's own parameters (without any adapter)
};

// Wraps every target (a layer already wrapped gets one more adapter) and adds an adapter
// called `name` (A Kaiming-uniform, B zero); then freezes every parameter except that
// adapter's A and B.
AttachReport attach_lora(nn::Module& model, const LoRAConfig& config, const std::string& name = "lora");

// Every LoRA layer of the model, by module name, in model order.
std::vector<std::pair<std::string, std::shared_ptr<LoRALayer>>> lora_layers(const nn::Module& model);

// "unet.x.lora_A.weight", "unet.x.lora_B_1.weight", ... : a parameter of an adapter.
bool is_adapter_parameter(const std::string& name);
// The model's state dict without adapter parameters: the base weights (plus any merged
// adapters). Its diffusion::weights_hash identifies the base model an adapter belongs to.
nn::StateDict base_state_dict(const nn::Module& model);
int64_t count_base_parameters(const nn::Module& model);
int64_t count_adapter_parameters(const nn::Module& model);

// Freeze every parameter, then make the adapters called `name` trainable.
void train_only_adapter(nn::Module& model, const std::string& name);
// Set w_i of the adapters called `name` in every layer; returns how many layers have one.
int64_t set_adapter_weight(nn::Module& model, const std::string& name, float weight);

// Merge every not-yet-merged adapter of every LoRA layer into its base weight.
void merge_lora(nn::Module& model);
// Unmerge every merged adapter, restoring the base weights.
void unmerge_lora(nn::Module& model);
// Put each LoRA layer's base module back in its slot. Merged adapters stay in the base
// weights; unmerged adapters are dropped. Returns the number of layers restored.
int64_t remove_lora(nn::Module& model);

}  // namespace ld::lora
