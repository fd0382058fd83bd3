// lora/extract.h: an adapter from two checkpoints, by SVD of their difference (the "ordinary
// training, then low-rank approximation by SVD" route of article claim C3, applied to LoRA).
//
//   for each targeted layer:  D = W_tuned - W_base   (out, fan_in)
//                             D ~ U_r diag(S_r) Vt_r                  top r singular triplets
//                             B = c U_r diag(sqrt(S_r)),  A = c diag(sqrt(S_r)) Vt_r,  c = sqrt(r / alpha)
//   so that (alpha / r) B A = U_r diag(S_r) Vt_r, the best rank-r approximation of D, and the
//   adapter on W_base gives W_base + D_r (Eq. (LoRA) with w = 1).
// A difference of rank <= r is recovered exactly (up to float rounding). Biases and layers
// outside the targets are not part of an adapter; their differences are reported.
#pragma once
#include <string>
#include <vector>

#include "lora/adapter_file.h"

namespace ld::lora {

struct ExtractOptions {
  int64_t rank = 4;
  float alpha = 0;                   // 0: alpha = rank (scale 1)
  std::vector<std::string> targets;  // empty: default_targets()
};

struct ExtractLayerReport {
  std::string name;
  int64_t rank = 0;        // kept (min of --rank and the layer's size)
  double diff_norm = 0;    // ||D||_F
  double energy_kept = 1;  // sum of kept S^2 / sum S^2
};

struct ExtractResult {
  Adapter adapter;                         // layers, rank, alpha, targets (config/hash left to the caller)
  std::vector<ExtractLayerReport> layers;  // every targeted layer whose weight differs
  std::vector<std::string> unchanged;      // targeted layers with identical weights (left out)
  std::vector<std::string> other_changes;  // parameters outside the adapter that differ (biases, ...)
};

// The split used by extract and resize: B = c U diag(sqrt S), A = c diag(sqrt S) Vt, c = sqrt(r / alpha),
// r = d.size(), so that (alpha / r) B A = U diag(S) Vt. weight_shape is the base layer's weight
// shape: (out, in) gives A (r, in), B (out, r); (out, in, k, k) gives A (r, in, k, k), B (out, r, 1, 1).
struct SVD;
AdapterLayer factor_low_rank(const std::string& name, const SVD& d, float alpha, const Shape& weight_shape);

// base and tuned must be the same architecture (same parameter names and shapes).
ExtractResult extract_lora(const nn::Module& base, const nn::Module& tuned, const ExtractOptions& options);

}  // namespace ld::lora
