// lora/extract.cpp: D = W_tuned - W_base, truncated SVD, split into B and A (see extract.h).
#include "lora/extract.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "lora/attach.h"
#include "lora/svd.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace ld::lora {

AdapterLayer factor_low_rank(const std::string& name, const SVD& d, float alpha, const Shape& weight_shape) {
  const int64_t r = d.size(), out = d.U.size(0), fan_in = d.Vt.size(1);
  const float c = std::sqrt(static_cast<float>(r) / alpha);
  std::vector<float> root(r);
  for (int64_t i = 0; i < r; ++i) root[i] = c * std::sqrt(d.S.f32()[i]);
  Tensor sq = Tensor::from_vector(root, {r});
  Tensor B = mul(d.U, sq.view({1, r})).contiguous();
  Tensor A = mul(d.Vt, sq.view({r, 1})).contiguous();
  if (weight_shape.size() == 4) {  // Conv2d: A (r, in, k, k), B (out, r, 1, 1)
    A = A.view({r, weight_shape[1], weight_shape[2], weight_shape[3]});
    B = B.view({out, r, 1, 1});
  } else if (fan_in != weight_shape[1]) {
    fail("factor_low_rank: '", name, "' has fan_in ", fan_in, " but weight ", shape_str(weight_shape));
  }
  return {name, A, B};
}

ExtractResult extract_lora(const nn::Module& base, const nn::Module& tuned, const ExtractOptions& o) {
  if (o.rank < 1) fail("--rank: ", o.rank, " must be >= 1");
  if (o.alpha < 0 || !std::isfinite(o.alpha))
    fail("--alpha: ", o.alpha, " must be > 0 (or 0 for alpha = rank)");
  const std::vector<std::string> targets = o.targets.empty() ? default_targets() : o.targets;
  const nn::StateDict bw = base_state_dict(base), tw = base_state_dict(tuned);
  for (const auto& [name, t] : bw) {
    auto it = tw.find(name);
    if (it == tw.end())
      fail("--tuned: the tuned model has no parameter '", name, "'; it must have the base's layout");
    if (it->second.shape() != t.shape())
      fail("--tuned: parameter '", name, "' is ", shape_str(it->second.shape()), " in the tuned model but ",
           shape_str(t.shape()), " in the base");
  }
  if (tw.size() != bw.size())
    fail("--tuned: the tuned model has parameters the base lacks; it must have the same layout");

  // A layer (out, in) holds at most min(out, in) singular triplets: a smaller layer keeps
  // all of its own, but a rank no targeted layer can hold is a mistake in the command.
  const std::vector<std::string> layers = find_targets(base, targets);
  int64_t largest = 0;
  for (const std::string& layer : layers) {
    const Tensor& w0 = bw.at(layer + ".weight");
    largest = std::max(largest, std::min(w0.size(0), w0.numel() / w0.size(0)));
  }
  if (o.rank > largest)
    fail("--rank: ", o.rank, " is larger than any targeted layer allows (at most ", largest,
         " = min(out, in) of the largest one)");
  ExtractResult res;
  const float alpha = o.alpha > 0 ? o.alpha : static_cast<float>(o.rank);
  res.adapter.alpha = alpha;
  res.adapter.targets = targets;
  std::set<std::string> covered;
  for (const std::string& layer : layers) {
    const std::string wname = layer + ".weight";
    covered.insert(wname);
    const Tensor& w0 = bw.at(wname);
    const int64_t out = w0.size(0), fan_in = w0.numel() / out;
    Tensor D = sub(tw.at(wname), w0).reshape({out, fan_in});
    const double norm = l2_norm(D);
    if (norm == 0) {
      res.unchanged.push_back(layer);
      continue;
    }
    // The rank of an adapter is the same in every layer unless a layer is smaller than it.
    SVD full = svd(D);
    const int64_t r = std::min<int64_t>(o.rank, full.size());
    // Each layer's own r gives its scale alpha / r; factor_low_rank accounts for it.
    res.adapter.layers.push_back(factor_low_rank(layer, full.truncate(r), alpha, w0.shape()));
    res.layers.push_back({layer, r, norm, energy_kept(full.S, r)});
    res.adapter.rank = std::max(res.adapter.rank, r);
  }
  for (const auto& [name, t] : bw)
    if (!covered.count(name) && l2_norm(sub(tw.at(name), t)) != 0) res.other_changes.push_back(name);
  if (res.adapter.layers.empty())
    fail("extract: the targeted layers (", layers.size(),
         ") have identical weights in both checkpoints; nothing to extract");
  return res;
}

}  // namespace ld::lora
