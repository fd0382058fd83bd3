// nn/low_rank_linear.cpp: y = U (V x) + b (see low_rank_linear.h).
#include "nn/low_rank_linear.h"

#include "autograd/ops.h"
#include "nn/init.h"
#include "tensor/matmul.h"

namespace ld::nn {

// r (fan_in + out) < fan_in * out  <=>  r <= (fan_in * out - 1) / (fan_in + out)
int64_t max_compressing_rank(int64_t fan_in, int64_t out) {
  if (fan_in <= 0 || out <= 0) return 0;
  return (fan_in * out - 1) / (fan_in + out);
}

LowRankLinear::LowRankLinear(int64_t in, int64_t out, int64_t r, bool with_bias, Generator& gen)
    : in_features(in), out_features(out), rank(r) {
  if (in <= 0 || out <= 0 || r <= 0)
    fail("LowRankLinear: sizes (in ", in, ", out ", out, ", rank ", r, ") must be positive");
  if (r > std::min(in, out))
    fail("LowRankLinear(", in, " -> ", out, "): rank ", r,
         " is larger than min(in, out) = ", std::min(in, out));
  V = make<Linear>(in, r, false, gen);
  U = make<Linear>(r, out, false, gen);
  if (with_bias) bias = Var(kaiming_uniform({out}, in, gen), true);
  register_parameter("bias", bias);
  register_module("V", V);
  register_module("U", U);
}

Var LowRankLinear::forward(const Var& x) {
  if (x.dim() < 1 || x.size(-1) != in_features)
    fail("LowRankLinear(", in_features, " -> ", rank, " -> ", out_features, "): input ", shape_str(x.shape()),
         " must end in ", in_features);
  return ag::linear(ag::linear(x, V->weight), U->weight, bias);  // h = x V^T, y = h U^T + b
}

void LowRankLinear::set_factors(const Tensor& u, const Tensor& v, const Tensor& b) {
  if (u.shape() != Shape{out_features, rank} || v.shape() != Shape{rank, in_features})
    fail("LowRankLinear(", in_features, " -> ", rank, " -> ", out_features, ").set_factors: U ",
         shape_str(u.shape()), " and V ", shape_str(v.shape()), " must be (", out_features, ", ", rank,
         ") and (", rank, ", ", in_features, ")");
  U->weight.set_value(u.contiguous().clone());
  V->weight.set_value(v.contiguous().clone());
  if (b.defined()) {
    if (!bias.defined() || b.shape() != Shape{out_features})
      fail("LowRankLinear.set_factors: bias ", shape_str(b.shape()), " does not fit a layer ",
           bias.defined() ? "with" : "without", " bias of ", out_features, " outputs");
    bias.set_value(b.contiguous().clone());
  }
}

Tensor LowRankLinear::dense_weight() const { return matmul(U->weight.value(), V->weight.value()); }

}  // namespace ld::nn
