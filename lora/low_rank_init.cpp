// lora/low_rank_init.cpp: truncated-SVD factors and the per-layer rank rule (see low_rank_init.h).
#include "lora/low_rank_init.h"

#include <cmath>

#include "nn/low_rank_linear.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"

namespace ld::lora {

Tensor LowRankFactors::product() const { return matmul(U, V); }

void RankRule::validate() const {
  const int set = (rank != 0) + (energy != 0) + (param_share != 0);
  if (set != 1)
    fail("choose exactly one of --rank r, --energy e, --params f (got ", set == 0 ? "none" : "several", ")");
  if (rank < 0) fail("--rank: ", rank, " must be >= 1");
  if (energy != 0 && !(energy > 0 && energy <= 1)) fail("--energy: ", energy, " must be in (0, 1]");
  if (param_share != 0 && !(param_share > 0 && param_share < 1))
    fail("--params: ", param_share, " must be in (0, 1), the share of each layer's parameters kept");
}

std::string RankRule::str() const {
  if (rank > 0) return str_cat("rank ", rank);
  if (energy > 0) return str_cat("energy ", energy);
  return str_cat("params ", param_share);
}

int64_t choose_rank(const RankRule& rule, const Tensor& S, int64_t fan_in, int64_t out,
                    const std::string& layer) {
  const int64_t r_max = nn::max_compressing_rank(fan_in, out);
  const int64_t dense = fan_in * out, per_rank = fan_in + out;
  if (rule.rank > 0) {
    if (rule.rank > r_max)
      fail("--rank ", rule.rank, ": layer ", layer, " (", fan_in, " -> ", out, ", ", dense,
           " weights) allows at most rank ", r_max, ": a rank-r factorisation holds r * (", fan_in, " + ",
           out, ") weights, which must be fewer than the dense ", dense,
           "; use a lower --rank, --params, or leave the layer out with --layers");
    return rule.rank;
  }
  if (rule.energy > 0) {
    const int64_t r = std::max<int64_t>(1, rank_for_energy(S, rule.energy));
    return r <= r_max ? r : 0;
  }
  const auto r = static_cast<int64_t>(std::floor(rule.param_share * static_cast<double>(dense) / per_rank));
  if (r < 1)
    fail("--params ", rule.param_share, ": layer ", layer, " (", fan_in, " -> ", out, ") needs ", per_rank,
         " weights even at rank 1, more than ", rule.param_share, " of its ", dense,
         "; use a larger share or leave the layer out with --layers");
  return r;
}

// U = U_r diag(sqrt S_r), V = diag(sqrt S_r) Vt_r
LowRankFactors svd_init(const SVD& w, int64_t r) {
  if (r < 1 || r > w.size()) fail("svd_init: rank ", r, " must be in [1, ", w.size(), "]");
  const SVD t = w.truncate(r);
  const Tensor root = pow_scalar(t.S, 0.5f);
  return {mul(t.U, root.view({1, r})), mul(t.Vt, root.view({r, 1}))};
}

double relative_frobenius_error(const Tensor& A, const Tensor& B) {
  const std::vector<float> a = A.contiguous().to_vector(), b = B.contiguous().to_vector();
  if (a.size() != b.size()) fail("relative_frobenius_error: sizes ", a.size(), " and ", b.size(), " differ");
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(a[i]) * a[i];
  }
  return den == 0 ? 0.0 : std::sqrt(num / den);
}

}  // namespace ld::lora
