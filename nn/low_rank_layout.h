// nn/low_rank_layout.h: which layers of a model are low-rank (LowRankLinear / LowRankConv2d), and
// how a compressed checkpoint gets its shape back when it is loaded (docs/compression.md).
//
// A checkpoint of a compressed model holds `<layer>.U.weight` / `<layer>.V.weight` where the
// dense model has `<layer>.weight`, and its metadata lists the low-rank layers and their ranks:
//   low_rank: {"unet.mid.attn.ff.fc1": 24, "unet.mid.attn.self_attn.to_q": 16, ...}
// diffusion::load_model builds the dense model from the config, calls apply_low_rank_layout
// with that list (swapping each listed layer for an untrained low-rank layer of the same sizes),
// then loads every tensor strictly. save_model writes the list of whatever model it saves.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "nn/module.h"
#include "tensor/random.h"

namespace ld::nn {

// The metadata key of the layout.
inline constexpr const char* kLowRankMetadataKey = "low_rank";

using LowRankLayout = std::map<std::string, int64_t>;  // module name -> rank

// Every LowRankLinear / LowRankConv2d below `model`, by module name.
LowRankLayout low_rank_layout(const Module& model);
std::string low_rank_layout_to_json(const LowRankLayout& layout);
// `where` names the file in errors.
LowRankLayout low_rank_layout_from_json(const std::string& text, const std::string& where);

// A low-rank layer of rank r with the sizes, bias and (for Conv2d) kernel, stride and padding
// of `dense` (a Linear or Conv2d); its factors are untrained.
std::shared_ptr<Module> low_rank_like(const Module& dense, int64_t rank, Generator& gen);

// Replace each listed Linear / Conv2d by low_rank_like(it, rank). Fails, naming `where`, for a
// name that is not a Linear / Conv2d of this model or a rank that does not fit it.
void apply_low_rank_layout(Module& model, const LowRankLayout& layout, const std::string& where);

}  // namespace ld::nn
