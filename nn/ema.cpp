// nn/ema.cpp: see ema.h.
#include "nn/ema.h"

#include <algorithm>

namespace ld::nn {

Ema::Ema(const Module& model, double d, bool w) : decay(d), warmup(w), shadow_(model.state_dict()) {
  if (d < 0 || d > 1) fail("Ema: decay ", d, " must be in [0, 1]");
}

double Ema::decay_at(int64_t n) const {
  return warmup ? std::min(decay, (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n))) : decay;
}

void Ema::update(const Module& model) {
  const double d = decay_at(updates_);
  const float a = static_cast<float>(d), b = static_cast<float>(1.0 - d);
  for (const auto& [name, p] : model.named_parameters()) {
    auto it = shadow_.find(name);
    if (it == shadow_.end() || it->second.shape() != p.shape())
      fail("Ema.update: parameter '", name, "' ", shape_str(p.shape()),
           " is not in the shadow it was built with");
    Tensor v = p.value().contiguous();
    float* s = it->second.f32();
    const float* x = v.f32();
    for (int64_t i = 0; i < v.numel(); ++i) s[i] = a * s[i] + b * x[i];
  }
  ++updates_;
}

void Ema::copy_to(Module& model) const { model.load_state_dict(shadow_, /*strict=*/true); }

void Ema::load_state_dict(const StateDict& shadow) {
  for (const auto& [name, t] : shadow_) {
    auto it = shadow.find(name);
    if (it == shadow.end() || it->second.shape() != t.shape() || it->second.dtype() != DType::F32)
      fail("Ema.load_state_dict: '", name, "' ", shape_str(t.shape()), " is missing or has another shape");
  }
  if (shadow.size() != shadow_.size())
    fail("Ema.load_state_dict: ", shadow.size(), " tensors, expected ", shadow_.size());
  for (auto& [name, t] : shadow_) t = shadow.at(name).contiguous().clone();
}

}  // namespace ld::nn
