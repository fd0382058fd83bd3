// lora/adapter_formats.h: adapter files other tools write and read (kohya sd-scripts, Hugging Face PEFT),
// beside loradiff's own (adapter_file.h). All three hold the same Eq. (LoRA) pair per layer,
// W' = W + w (alpha / r) B A, under other names:
//   loradiff  <layer>.lora_A.weight (r, in), <layer>.lora_B.weight (out, r); metadata format, alpha, ...
//   kohya     lora_unet_<path>.lora_down.weight = A, .lora_up.weight = B, .alpha (a scalar per layer);
//             <path> is the module's name inside the UNet (text encoder: lora_te_) with '.' -> '_';
//             metadata ss_network_dim (r), ss_network_alpha, ss_network_module = "networks.lora"
//   peft      a folder holding adapter_model.safetensors with base_model.model.<layer>.lora_A.weight /
//             .lora_B.weight, and adapter_config.json with r, lora_alpha, target_modules,
//             peft_type "LORA"
// The layout of a file is told from its tensor names. Conv2d layers keep the (r, in, k, k) and
// (out, r, 1, 1) shapes in every layout. loradiff's own metadata (targets, base_config, training, ...)
// is carried through the others' safetensors metadata, so converting there and back is bit-exact.
// kohya's '_' for '.' loses where a name's parts end; reading a kohya file finds each layer among the
// module names of the model its metadata base_config names (else of each built-in config).
#pragma once
#include <optional>
#include <string>

#include "lora/adapter_file.h"

namespace ld::lora {

enum class AdapterLayout { Loradiff, Kohya, Peft };
const char* layout_name(AdapterLayout layout);  // "loradiff", "kohya", "peft"
// "loradiff" | "kohya" | "peft"; anything else fails naming `option`.
AdapterLayout parse_layout(const std::string& text, const std::string& option);

// "unet.down1.attn.self_attn.to_q" -> "lora_unet_down1_attn_self_attn_to_q"; "text.x" -> "lora_te_x".
std::string kohya_name(const std::string& layer_name);

// The layout of an adapter file (a PEFT folder counts) from its tensor names; fails naming the three
// layouts expected when it is none of them.
AdapterLayout detect_layout(const std::string& path);

// Write `adapter` in `layout`, each file atomically: a file for loradiff and kohya; for peft the
// weights and adapter_config.json where peft_paths(path) says (a folder is made if missing).
void save_adapter_as(const std::string& path, const Adapter& adapter, AdapterLayout layout);

// Read a kohya or PEFT adapter into loradiff's form (read_adapter calls these after detection).
Adapter read_kohya_adapter(const std::string& path, nn::SafeTensors st);
Adapter read_peft_adapter(const std::string& path);

// The layout told by tensor names alone (format metadata aside); nullopt when none fits.
std::optional<AdapterLayout> layout_from_names(const nn::SafeTensors& st);

// loradiff's own file contents <-> Adapter, with every check of save_adapter / read_adapter; the other
// layouts rename to and from these.
void adapter_to_safetensors(const Adapter& adapter, const std::string& path, nn::StateDict& tensors,
                            nn::Metadata& metadata);
Adapter adapter_from_safetensors(const std::string& path, nn::SafeTensors st);

// Where save_adapter_as(out, ..., Peft) writes: `out` ending in .safetensors is the weights file itself
// (adapter_config.json beside it), anything else a folder holding adapter_model.safetensors and
// adapter_config.json.
struct PeftPaths {
  std::string folder, weights, config;
};
PeftPaths peft_paths(const std::string& out);

// The adapter_model.safetensors of a PEFT folder, or `path` itself when it is a file.
std::string peft_weights_file(const std::string& path);

}  // namespace ld::lora
