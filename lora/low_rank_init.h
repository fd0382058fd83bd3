// lora/low_rank_init.h: a dense weight W (out, fan_in) as a product U V of rank r, by truncated
// SVD (article claim C3: "the low-rank layers are obtained after ordinary training, by
// approximating each dense layer with SVD"), and the rule that picks r per layer.
//
//   W = U_W diag(S) Vt_W                                  thin SVD (lora/svd.h)
//   U = U_W[:, :r] diag(sqrt S_r),  V = diag(sqrt S_r) Vt_W[:r, :]
//   U V = the best rank-r approximation of W (Eckart-Young):  ||W - U V||_F^2 = sum_{i >= r} S_i^2
//
// The square root of S is put on both sides so that column i of U and row i of V have the same
// norm sqrt(S_i): neither factor is much larger than the other when fine-tuning starts.
// The input-compression variant (lora/input_compression.h) truncates the SVD of W C^{1/2}
// instead; both use choose_rank on the spectrum they truncate.
//
// Rank rules (one per run, docs/compression.md):
//   --rank r          the same r in every layer; a layer where r (fan_in + out) >= fan_in * out
//                     (no saving) is an error naming the layer and its largest useful rank
//   --energy e        the smallest r with sum_{i<r} S_i^2 >= e * sum_i S_i^2; a layer that would
//                     need a rank with no saving stays dense (reported), so no layer ever grows
//   --params f        the largest r with r (fan_in + out) <= f * fan_in * out: keep about the
//                     share f of each layer's weights (f = 0.5: 50 % fewer parameters)
#pragma once
#include <string>

#include "lora/svd.h"

namespace ld::lora {

struct LowRankFactors {
  Tensor U;  // (out, r)
  Tensor V;  // (r, fan_in)
  int64_t rank() const { return V.size(0); }
  Tensor product() const;  // U V, (out, fan_in)
};

struct RankRule {
  int64_t rank = 0;        // > 0: a fixed rank
  double energy = 0;       // in (0, 1]: by energy kept
  double param_share = 0;  // in (0, 1): by the share of parameters kept
  // Fails unless exactly one rule is set and in range (names the option: --rank, --energy, --params).
  void validate() const;
  std::string str() const;  // "rank 8", "energy 0.9", "params 0.5"
};

// The rank for a layer with weight (out, fan_in) whose truncated matrix has singular values S.
// Returns 0 when the energy rule needs a rank that would not save parameters (keep the layer
// dense); fails, naming `layer`, when a fixed rank is too large or a share too small for it.
int64_t choose_rank(const RankRule& rule, const Tensor& S, int64_t fan_in, int64_t out,
                    const std::string& layer);

// The factors of the top-r triplets of w = svd(W) (see the top of this file).
LowRankFactors svd_init(const SVD& w, int64_t r);

// ||A - B||_F / ||A||_F (0 when A is zero).
double relative_frobenius_error(const Tensor& A, const Tensor& B);

}  // namespace ld::lora
