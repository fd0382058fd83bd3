// lora/input_compression.cpp: whitened-SVD factors that minimise the output error on the
// calibration inputs (see input_compression.h).
#include "lora/input_compression.h"

#include <algorithm>
#include <cmath>

#include "tensor/elementwise.h"
#include "tensor/matmul.h"

namespace ld::lora {

namespace {

void check_pair(const char* op, const Tensor& W, const Tensor& C) {
  if (W.dim() != 2 || C.dim() != 2 || C.size(0) != C.size(1) || C.size(0) != W.size(1))
    fail(op, ": W ", shape_str(W.shape()), " and C ", shape_str(C.shape()),
         " must be (out, fan_in) and (fan_in, fan_in)");
}

// tr(E C E^T) = sum_{o, i} (E C)[o, i] E[o, i], in double
double quadratic_trace(const Tensor& E, const Tensor& C) {
  const std::vector<float> ec = matmul(E, C).to_vector(), e = E.contiguous().to_vector();
  double s = 0;
  for (size_t i = 0; i < e.size(); ++i) s += double(ec[i]) * e[i];
  return s;
}

}  // namespace

// C = Q diag(lambda) Q^T; for a symmetric PSD matrix the SVD's U is Q and S is lambda.
Tensor psd_sqrt(const Tensor& C) {
  const SVD d = svd(C);
  std::vector<float> root = d.S.to_vector();
  for (float& v : root) v = std::sqrt(std::max(v, 0.0f));
  const int64_t k = d.size();
  return matmul(mul(d.U, Tensor::from_vector(root, {1, k})), d.U.transpose(0, 1));
}

SVD whitened_svd(const Tensor& W, const Tensor& C) {
  check_pair("whitened_svd", W, C);
  return svd(matmul(W, psd_sqrt(C)));
}

// U = P_r diag(sqrt n), V = diag(1 / sqrt n) P_r^T W,  n_i = || (P_r^T W)[i, :] ||
LowRankFactors input_compression_init(const Tensor& W, const SVD& a, int64_t r) {
  if (W.dim() != 2 || a.U.size(0) != W.size(0))
    fail("input_compression_init: W ", shape_str(W.shape()), " does not match the whitened SVD's U ",
         shape_str(a.U.shape()));
  if (r < 1 || r > a.size()) fail("input_compression_init: rank ", r, " must be in [1, ", a.size(), "]");
  const Tensor P = a.U.narrow(1, 0, r).contiguous();  // (out, r)
  Tensor V = matmul(P.transpose(0, 1), W);            // (r, fan_in)
  const int64_t fan_in = W.size(1);
  std::vector<float> v = V.to_vector(), scale(r);
  for (int64_t i = 0; i < r; ++i) {
    double n = 0;
    for (int64_t j = 0; j < fan_in; ++j) n += double(v[i * fan_in + j]) * v[i * fan_in + j];
    n = std::sqrt(n);
    scale[i] = n > 1e-30 ? static_cast<float>(std::sqrt(n)) : 1.0f;
  }
  const Tensor s = Tensor::from_vector(scale, {r});
  return {mul(P, s.view({1, r})), div(V, s.view({r, 1}))};
}

double relative_output_error(const Tensor& W, const Tensor& M, const Tensor& C, const Tensor& C_err) {
  check_pair("relative_output_error", W, C);
  if (C_err.defined()) check_pair("relative_output_error", W, C_err);
  if (M.shape() != W.shape())
    fail("relative_output_error: M ", shape_str(M.shape()), " must have W's shape ", shape_str(W.shape()));
  const double den = quadratic_trace(W, C);
  if (den <= 0) return 0.0;
  return std::sqrt(std::max(0.0, quadratic_trace(sub(W, M), C_err.defined() ? C_err : C)) / den);
}

}  // namespace ld::lora
