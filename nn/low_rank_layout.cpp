// nn/low_rank_layout.cpp: listing and rebuilding the low-rank layers of a model (see low_rank_layout.h).
#include "nn/low_rank_layout.h"

#include <nlohmann/json.hpp>

#include "nn/low_rank_conv2d.h"
#include "nn/low_rank_linear.h"
#include "tensor/excerpt.h"

namespace ld::nn {

LowRankLayout low_rank_layout(const Module& model) {
  LowRankLayout layout;
  for (const auto& [name, m] : model.named_modules()) {
    if (auto l = std::dynamic_pointer_cast<LowRankLinear>(m)) layout[name] = l->rank;
    if (auto c = std::dynamic_pointer_cast<LowRankConv2d>(m)) layout[name] = c->rank;
  }
  return layout;
}

std::string low_rank_layout_to_json(const LowRankLayout& layout) { return nlohmann::json(layout).dump(); }

LowRankLayout low_rank_layout_from_json(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text).get<LowRankLayout>();
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": metadata '", kLowRankMetadataKey, "' must be a JSON object {layer name: rank}, got '",
         excerpt(text), "' (", excerpt(e.what(), 160), ")");
  }
}

std::shared_ptr<Module> low_rank_like(const Module& dense, int64_t rank, Generator& gen) {
  if (auto l = dynamic_cast<const Linear*>(&dense))
    return make<LowRankLinear>(l->in_features, l->out_features, rank, l->bias.defined(), gen);
  if (auto c = dynamic_cast<const Conv2d*>(&dense))
    return make<LowRankConv2d>(c->in_channels, c->out_channels, c->kernel_size, c->stride, c->padding, rank,
                               c->bias.defined(), gen);
  fail("low_rank_like: a ", dense.type_name(), " has no low-rank form (only Linear and Conv2d)");
}

void apply_low_rank_layout(Module& model, const LowRankLayout& layout, const std::string& where) {
  Generator gen(0);  // the values are overwritten by the checkpoint's
  for (const auto& [name, rank] : layout) {
    std::shared_ptr<Module> dense;
    try {
      dense = model.get_module(name);
    } catch (const Error&) {
      fail(where, ": low-rank layer '", name, "' listed in the metadata does not exist in this model");
    }
    try {
      model.replace_module(name, low_rank_like(*dense, rank, gen));
    } catch (const Error& e) {
      fail(where, ": cannot make layer '", name, "' low-rank with rank ", rank, ": ", e.what());
    }
  }
}

}  // namespace ld::nn
