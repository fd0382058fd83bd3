// lora/lora_layer.cpp: adapters, the Eq. (LoRA) sum and merge/unmerge (see lora_layer.h).
#include "lora/lora_layer.h"

#include <cmath>

#include "autograd/ops.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"

namespace ld::lora {

LoRALayer::LoRALayer(std::shared_ptr<nn::Module> base, Var w, Var b)
    : weight(std::move(w)), bias(std::move(b)), base_(std::move(base)) {
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

size_t LoRALayer::add_adapter(const std::string& name, int64_t rank, float alpha, float w, float dropout,
                              Generator& gen) {
  if (rank < 1) fail(type_name(), ": LoRA rank ", rank, " must be >= 1");
  if (!std::isfinite(alpha) || alpha <= 0) fail(type_name(), ": LoRA alpha ", alpha, " must be > 0");
  if (!std::isfinite(w)) fail(type_name(), ": adapter weight ", w, " must be a finite number");
  if (!(dropout >= 0 && dropout < 1)) fail(type_name(), ": LoRA dropout ", dropout, " must be in [0, 1)");
  if (find_adapter(name) >= 0) fail(type_name(), ": an adapter named '", name, "' is already attached");
  auto a = std::make_unique<LoRAAdapter>();
  a->name = name;
  a->rank = rank;
  a->alpha = alpha;
  a->weight = w;
  auto [down, up] = make_pair(rank, gen);
  a->lora_A = std::move(down);
  a->lora_B = std::move(up);
  Tensor B = a->B().value();  // shares the parameter's storage
  B.zero_();                  // B = 0: the new adapter leaves the layer's output unchanged
  if (dropout > 0) a->dropout = std::make_shared<nn::Dropout>(dropout, gen);
  const std::string suffix = adapters_.empty() ? std::string() : str_cat("_", adapters_.size());
  register_module("lora_A" + suffix, a->lora_A);
  register_module("lora_B" + suffix, a->lora_B);
  if (a->dropout) register_module("lora_dropout" + suffix, a->dropout);
  a->lora_A->train(is_training());
  a->lora_B->train(is_training());
  if (a->dropout) a->dropout->train(is_training());
  adapters_.push_back(std::move(a));
  return adapters_.size() - 1;
}

LoRAAdapter& LoRALayer::adapter(size_t i) {
  if (i >= adapters_.size()) fail(type_name(), ": adapter ", i, " of ", adapters_.size());
  return *adapters_[i];
}

const LoRAAdapter& LoRALayer::adapter(size_t i) const {
  if (i >= adapters_.size()) fail(type_name(), ": adapter ", i, " of ", adapters_.size());
  return *adapters_[i];
}

int64_t LoRALayer::find_adapter(const std::string& name) const {
  for (size_t i = 0; i < adapters_.size(); ++i)
    if (adapters_[i]->name == name) return static_cast<int64_t>(i);
  return -1;
}

// (alpha / r) B A: B as (out, r), A as (r, fan_in); the product is reshaped to W0's shape.
Tensor LoRALayer::delta_weight(size_t i) const {
  const LoRAAdapter& a = adapter(i);
  Tensor B = a.B().value().reshape({out_features(), a.rank});
  Tensor A = a.A().value().reshape({a.rank, fan_in()});
  return mul_scalar(matmul(B, A), a.alpha / static_cast<float>(a.rank)).view(weight.shape());
}

// W0 += w (alpha / r) B A
void LoRALayer::merge(size_t i) {
  LoRAAdapter& a = adapter(i);
  if (a.merged) fail(type_name(), ": adapter '", a.name, "' is already merged");
  bool any_merged = false;
  for (auto& other : adapters_) any_merged = any_merged || other->merged;
  // computed aside and checked first: an overflowing merge must leave W0 as it was
  Tensor merged = weight.value().clone();
  axpy_(merged, a.weight, delta_weight(i));
  if (has_non_finite(merged))
    fail(type_name(), ": merging adapter '", a.name, "' at weight ", a.weight,
         " makes the weight non-finite; nothing was merged");
  if (!any_merged) original_weight_ = weight.value().clone();
  a.merged_weight = a.weight;
  Tensor w = weight.value();
  w.copy_(merged);
  a.merged = true;
}

// W0 -= w (alpha / r) B A, or W0 = the copy kept by the first merge when nothing else is merged.
void LoRALayer::unmerge(size_t i) {
  LoRAAdapter& a = adapter(i);
  if (!a.merged) fail(type_name(), ": adapter '", a.name, "' is not merged");
  a.merged = false;
  bool others_merged = false;
  for (auto& other : adapters_) others_merged = others_merged || other->merged;
  if (!others_merged && original_weight_.defined()) {
    Tensor w = weight.value();
    w.copy_(original_weight_);
    original_weight_ = Tensor();
  } else {
    axpy_(weight.value(), -a.merged_weight, delta_weight(i));
  }
}

Var LoRALayer::add_adapters(Var y, const Var& x) {
  for (auto& a : adapters_) {
    if (a->merged || a->weight == 0.0f) continue;
    const Var in = a->dropout ? a->dropout->forward(x) : x;
    // w (alpha / r) applied to the narrow (..., r) activation rather than to the (..., out) result:
    // the same product, one pass over r instead of out columns.
    y = y + a->lora_B->forward(a->lora_A->forward(in) * a->scale());
  }
  return y;
}

}  // namespace ld::lora
