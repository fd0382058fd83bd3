// nn/low_rank_linear.h: a dense layer stored as a product of two thin matrices (article claims
// C1-C3: "replacing dense layers by low-rank layers reduces the number of parameters").
//
//   y = U (V x) + b        x (..., in), V (r, in), U (out, r), b (out), y (..., out)
//
// = a Linear(in -> r, no bias) followed by a Linear(r -> out, bias). It stands for a dense
// weight W ~ U V (out, in) of rank <= r with r (in + out) parameters instead of in * out, and as
// many multiply-adds per row, so it is smaller and cheaper exactly when r (in + out) < in out.
// Backward is two ag::linear backwards: dh = dy U, dU = dy^T h, dx = dh V, dV = dh^T x (h = V x).
//
// Parameter names (a compressed checkpoint, docs/compression.md): `<layer>.bias`,
// `<layer>.V.weight` (r, in), `<layer>.U.weight` (out, r) — PyTorch reads it as
// nn.Sequential of two nn.Linear plus a bias, by eye.
//
// LowRankConv2d (nn/low_rank_conv2d.h) is the same for convolutions.
#pragma once
#include "nn/linear.h"

namespace ld::nn {

// The largest r with r (fan_in + out) < fan_in * out: the rank above which a factorised layer
// would hold as many parameters as the dense one or more (0 when none is smaller).
int64_t max_compressing_rank(int64_t fan_in, int64_t out);

class LowRankLinear : public Module {
 public:
  // Untrained factors (Kaiming-uniform, the Linear default); a compressed checkpoint or
  // set_factors() gives them their values.
  LowRankLinear(int64_t in_features, int64_t out_features, int64_t rank, bool bias, Generator& gen);
  std::string type_name() const override { return "LowRankLinear"; }
  Var forward(const Var& x) override;

  // U (out, r), V (r, in), bias (out) or undefined (kept as is when the layer has none).
  void set_factors(const Tensor& U, const Tensor& V, const Tensor& bias = Tensor());
  // U V, (out, in): the dense weight this layer stands for.
  Tensor dense_weight() const;

  int64_t in_features, out_features, rank;
  Var bias;                      // (out), undefined when built without bias
  std::shared_ptr<Linear> V, U;  // V: in -> r, U: r -> out, both without bias
};

}  // namespace ld::nn
