// lora/adapter_merge.cpp: exact (concatenated ranks) and rank-r (SVD) merges of adapters (see
// adapter_merge.h).
#include "lora/adapter_merge.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "lora/extract.h"
#include "lora/svd.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/reduce.h"

namespace ld::lora {

namespace {

std::string source_of(const WeightedAdapter& w) {
  return w.adapter.source.empty() ? w.spec.path : w.adapter.source;
}

// The base weight shape a layer fits: (out, in) or (out, in, k, k).
Shape weight_shape(const AdapterLayer& l) {
  if (l.A.dim() == 2) return {l.B.size(0), l.A.size(1)};
  return {l.B.size(0), l.A.size(1), l.A.size(2), l.A.size(3)};
}

// name -> (adapter index, layer index), checking that every occurrence fits one weight shape.
std::map<std::string, std::vector<std::pair<size_t, size_t>>> layer_index(
    const std::vector<WeightedAdapter>& in) {
  std::map<std::string, std::vector<std::pair<size_t, size_t>>> by_name;
  for (size_t i = 0; i < in.size(); ++i)
    for (size_t k = 0; k < in[i].adapter.layers.size(); ++k) {
      const AdapterLayer& l = in[i].adapter.layers[k];
      auto& occ = by_name[l.name];
      if (!occ.empty()) {
        const AdapterLayer& first = in[occ[0].first].adapter.layers[occ[0].second];
        if (weight_shape(first) != weight_shape(l) || first.A.dim() != l.A.dim())
          fail("lora merge: layer '", l.name, "' fits a weight ", shape_str(weight_shape(first)), " in '",
               source_of(in[occ[0].first]), "' but ", shape_str(weight_shape(l)), " in '", source_of(in[i]),
               "'; adapters merged together must be made for one model");
      }
      occ.push_back({i, k});
    }
  return by_name;
}

}  // namespace

Tensor summed_delta(const std::vector<WeightedAdapter>& in, const std::string& name) {
  Tensor d;
  for (const WeightedAdapter& w : in)
    for (size_t k = 0; k < w.adapter.layers.size(); ++k) {
      if (w.adapter.layers[k].name != name) continue;
      const Tensor part = mul_scalar(w.adapter.delta_matrix(k), w.spec.weight_for(name));
      d = d.defined() ? add(d, part) : part;
    }
  if (!d.defined()) fail("summed_delta: no adapter has layer '", name, "'");
  return d;
}

AdapterMergeResult merge_adapters(const std::vector<WeightedAdapter>& in, int64_t rank) {
  if (in.empty()) fail("lora merge: no adapters to merge");
  if (rank < 0) fail("--rank: ", rank, " must be >= 1 (or 0 for the exact merge)");
  for (const WeightedAdapter& w : in)
    if (w.spec.has_range())
      fail("lora merge: '", source_of(w), "' has a step range (start=", w.spec.start, ", end=", w.spec.end,
           "); a merged adapter is active at every step, so apply ranges at sampling time instead");
  const auto by_name = layer_index(in);

  AdapterMergeResult res;
  Adapter& out = res.adapter;
  out.base_config = in[0].adapter.base_config;
  out.base_weights_hash = in[0].adapter.base_weights_hash;
  std::set<std::string> targets;
  nlohmann::json from = nlohmann::json::array();
  for (const WeightedAdapter& w : in) {
    targets.insert(w.adapter.targets.begin(), w.adapter.targets.end());
    from.push_back({{"file", source_of(w)}, {"weight", w.spec.weight}, {"blocks", w.spec.blocks}});
  }
  out.targets.assign(targets.begin(), targets.end());
  // new words travel with the merged adapter (each word once)
  std::vector<Tensor> rows;
  for (const WeightedAdapter& w : in)
    for (size_t k = 0; k < w.adapter.new_words.size(); ++k) {
      const std::string& word = w.adapter.new_words[k];
      if (std::find(out.new_words.begin(), out.new_words.end(), word) != out.new_words.end())
        fail("lora merge: the word '", word,
             "' is added by two adapters; merge adapters that add different words");
      out.new_words.push_back(word);
      rows.push_back(w.adapter.new_rows.narrow(0, static_cast<int64_t>(k), 1));
    }
  if (!rows.empty()) out.new_rows = concat(rows, 0);
  out.extra["merged_adapters"] = nlohmann::json{
      {"rank", rank == 0 ? nlohmann::json("exact") : nlohmann::json(rank)},
      {"from", from}}.dump();

  if (rank == 0) {
    int64_t largest = 0;
    for (const auto& [name, occ] : by_name) {
      int64_t R = 0;
      for (auto [i, k] : occ) R += in[i].adapter.layers[k].rank();
      largest = std::max(largest, R);
    }
    out.alpha = static_cast<float>(largest);
    out.rank = largest;
    for (const auto& [name, occ] : by_name) {
      int64_t R = 0;
      for (auto [i, k] : occ) R += in[i].adapter.layers[k].rank();
      std::vector<Tensor> As, Bs;
      for (auto [i, k] : occ) {
        const AdapterLayer& l = in[i].adapter.layers[k];
        // the run-time scale, as LoRAAdapter::scale() computes it
        const float f = in[i].spec.weight_for(name) * in[i].adapter.alpha / static_cast<float>(l.rank());
        As.push_back(l.A);
        Bs.push_back(mul_scalar(l.B, f));
      }
      if (R < largest) {  // zero ranks up to alpha', so that this layer's scale is 1 too
        Shape a = As[0].shape(), b = Bs[0].shape();
        a[0] = b[1] = largest - R;
        As.push_back(Tensor::zeros(a));
        Bs.push_back(Tensor::zeros(b));
      }
      AdapterLayer m{name, As.size() == 1 ? As[0].clone() : concat(As, 0),
                     Bs.size() == 1 ? Bs[0].contiguous() : concat(Bs, 1)};
      out.layers.push_back(m);
      res.layers.push_back({name, largest, 0.0, 0.0, 1.0});
    }
    return res;
  }

  out.alpha = static_cast<float>(rank);
  for (const auto& [name, occ] : by_name) {
    const AdapterLayer& first = in[occ[0].first].adapter.layers[occ[0].second];
    const Tensor D = summed_delta(in, name);
    const SVD full = svd(D);
    const int64_t r = std::max<int64_t>(1, std::min(rank, full.size()));
    out.layers.push_back(factor_low_rank(name, full.truncate(r), out.alpha, weight_shape(first)));
    out.rank = std::max(out.rank, r);
    double total = 0, tail = 0;
    const float* S = full.S.f32();
    for (int64_t k = 0; k < full.size(); ++k) {
      total += double(S[k]) * S[k];
      if (k >= r) tail += double(S[k]) * S[k];
    }
    res.layers.push_back({name, r, std::sqrt(total), std::sqrt(tail), energy_kept(full.S, r)});
  }
  return res;
}

}  // namespace ld::lora
