// lora/adapter_merge.h: several adapters into one adapter file (`lora merge --out-lora`).
//
// Applied together at weights w_i, adapters change a layer's weight by Eq. (LoRA),
//   W' = W + sum_i w_i (alpha_i / r_i) B_i A_i.
// Exactly, by concatenated ranks (R = sum_i r_i in the layer):
//   B' = [s_1 B_1 | s_2 B_2 | ... | 0]  (out, R'),   A' = [A_1; A_2; ...; 0]  (R', fan_in),
//   s_i = w_i alpha_i / r_i (the adapter's run-time scale, per block), alpha' = R' = the largest R of
// any layer (a layer with a smaller R gets zero ranks up to R'), so every layer's scale alpha' / R' is
// exactly 1 and B' A' = sum_i w_i (alpha_i / r_i) B_i A_i. The adapters applied together compute the
// very same product (lora_linear.cpp, lora_conv2d.cpp fold each scale into B and concatenate the
// ranks), so the merged file at weight 1 samples bit for bit like them.
// Or at rank r, by SVD of the summed update D (lora/svd.h, Eckart-Young): the top r triplets,
// split as extract/resize do with alpha' = r; ||D - D_r||_F = sqrt(sum_{k >= r} S_k^2), the tail.
// Per-block weights of a spec (`:down=a,...`) apply per layer; a step range cannot be merged.
#pragma once
#include <string>
#include <vector>

#include "lora/adapter_file.h"

namespace ld::lora {

struct WeightedAdapter {
  Adapter adapter;
  LoRASpec spec;  // weight and per-block weights
};

struct AdapterMergeLayer {
  std::string name;
  int64_t rank = 0;        // of the merged layer
  double delta_norm = 0;   // ||D||_F, D the summed update
  double tail_norm = 0;    // ||D - D_r||_F (0 for the exact merge)
  double energy_kept = 1;  // sum_{k<r} S_k^2 / sum S_k^2
};

struct AdapterMergeResult {
  Adapter adapter;
  std::vector<AdapterMergeLayer> layers;
};

// rank 0: the exact concatenation; rank >= 1: the rank-r SVD of each layer's summed update.
// Fails on an empty list, a spec with a step range, or adapters whose same-named layers disagree in shape.
AdapterMergeResult merge_adapters(const std::vector<WeightedAdapter>& in, int64_t rank = 0);

// The summed update sum_i w_i (alpha_i / r_i) B_i A_i of the layer `name` as (out, fan_in).
Tensor summed_delta(const std::vector<WeightedAdapter>& in, const std::string& name);

}  // namespace ld::lora
