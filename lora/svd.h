// lora/svd.h: the thin singular value decomposition and rank truncation, through LAPACK.
//
//   M (m x n) = U diag(S) Vt,   U (m x k), S (k) descending >= 0, Vt (k x n),   k = min(m, n)
//
// The best rank-r approximation of M (Eckart-Young) keeps the top r triplets,
//   M_r = U[:, :r] diag(S[:r]) Vt[:r, :],   || M - M_r ||_F^2 = sum_{i >= r} S_i^2,
// so the share of "energy" it keeps is sum_{i < r} S_i^2 / sum_i S_i^2. LoRA uses it to turn a
// weight difference into an adapter (extract) and to shrink an adapter (resize); the low-rank
// compression of dense layers (article claim C3) uses the same helpers.
// The work is done in double precision (LAPACKE_dgesdd, divide and conquer); results are F32.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace ld::lora {

struct SVD {
  Tensor U;   // (m, k)
  Tensor S;   // (k), descending
  Tensor Vt;  // (k, n)

  int64_t size() const { return S.numel(); }
  // The top r triplets (r is clamped to [0, size()]).
  SVD truncate(int64_t r) const;
  // U diag(S) Vt, (m, n)
  Tensor reconstruct() const;
};

// Thin SVD of a 2-D F32 matrix. Fails on NaN/Inf or when LAPACK does not converge.
SVD svd(const Tensor& m);

// The smallest r whose top-r singular values keep at least `energy` (in (0, 1]) of
// sum S_i^2; 0 when S is all zero.
int64_t rank_for_energy(const Tensor& S, double energy);
// sum_{i < r} S_i^2 / sum_i S_i^2 (1 when S is all zero).
double energy_kept(const Tensor& S, int64_t r);

}  // namespace ld::lora
