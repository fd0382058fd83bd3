// lora/resize.h: a smaller adapter from a larger one, by SVD of each layer's update.
//
//   for each layer:  M = (alpha / r) B A   (out, fan_in), rank <= r
//                    M ~ U_r' diag(S_r') Vt_r'       r' = --rank, or the smallest rank keeping
//                                                     --energy of sum S^2 (then r' varies by layer)
//                    B', A' from the split of extract.h with the same alpha:  (alpha / r') B' A' = M_r'
// The kept energy per layer, sum_{i<r'} S_i^2 / sum S_i^2, says how much of the update survives:
// ||M - M_r'||_F^2 / ||M||_F^2 = 1 - kept.
#pragma once
#include <string>
#include <vector>

#include "lora/adapter_file.h"

namespace ld::lora {

struct ResizeOptions {
  int64_t rank = 0;   // > 0: this rank in every layer (capped by the layer's current rank)
  double energy = 0;  // in (0, 1]: the smallest rank per layer keeping this share
};

struct ResizeLayerReport {
  std::string name;
  int64_t old_rank = 0, new_rank = 0;
  double energy_kept = 1;
  std::vector<float> singular_values;  // of (alpha / r) B A, all of them
};

struct ResizeResult {
  Adapter adapter;
  std::vector<ResizeLayerReport> layers;
};

// Exactly one of rank / energy must be set. Metadata (targets, base, extra) is carried over.
ResizeResult resize_lora(const Adapter& in, const ResizeOptions& options);

}  // namespace ld::lora
