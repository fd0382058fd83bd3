// lora/svd.cpp: thin SVD via LAPACKE_dgesdd, truncation and rank-by-energy (see svd.h).
#include "lora/svd.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/elementwise.h"
#include "tensor/matmul.h"

namespace ld::lora {

SVD svd(const Tensor& m_in) {
  check_dtype("svd", m_in, DType::F32, "matrix");
  if (m_in.dim() != 2) fail("svd: the input ", shape_str(m_in.shape()), " must be a 2-D matrix");
  const int64_t m = m_in.size(0), n = m_in.size(1), k = std::min(m, n);
  if (k == 0) fail("svd: the matrix ", shape_str(m_in.shape()), " is empty");
  if (has_non_finite(m_in)) fail("svd: the matrix ", shape_str(m_in.shape()), " holds NaN or Inf");
  const std::vector<float> src = m_in.contiguous().to_vector();
  std::vector<double> a(src.begin(), src.end()), s(k), u(m * k), vt(k * n);
  // Row-major: a is m x n (lda n), u is m x k (ldu k), vt is k x n (ldvt n). jobz 'S': thin.
  const lapack_int info =
      LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', static_cast<lapack_int>(m), static_cast<lapack_int>(n), a.data(),
                     static_cast<lapack_int>(n), s.data(), u.data(), static_cast<lapack_int>(k), vt.data(),
                     static_cast<lapack_int>(n));
  if (info < 0) fail("svd: LAPACKE_dgesdd rejected argument ", -info, " for a ", m, " x ", n, " matrix");
  if (info > 0) fail("svd: LAPACKE_dgesdd did not converge on a ", m, " x ", n, " matrix (info ", info, ")");
  auto to_tensor = [](const std::vector<double>& v, const Shape& shape) {
    return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
  };
  return {to_tensor(u, {m, k}), to_tensor(s, {k}), to_tensor(vt, {k, n})};
}

SVD SVD::truncate(int64_t r) const {
  r = std::clamp<int64_t>(r, 0, size());
  return {U.narrow(1, 0, r).contiguous(), S.narrow(0, 0, r).contiguous(), Vt.narrow(0, 0, r).contiguous()};
}

// U diag(S) Vt = (U * S broadcast over rows) @ Vt
Tensor SVD::reconstruct() const {
  if (size() == 0) return Tensor::zeros({U.size(0), Vt.size(1)});
  return matmul(mul(U, S.view({1, size()})), Vt);
}

int64_t rank_for_energy(const Tensor& S, double energy) {
  if (!(energy > 0 && energy <= 1)) fail("--energy: ", energy, " must be in (0, 1]");
  const std::vector<float> s = S.to_vector();
  double total = 0;
  for (float v : s) total += static_cast<double>(v) * v;
  if (total == 0) return 0;
  double kept = 0;
  for (size_t r = 0; r < s.size(); ++r) {
    kept += static_cast<double>(s[r]) * s[r];
    // a relative slack of 1e-12 so that energy 1.0 is reached despite rounding
    if (kept >= energy * total * (1 - 1e-12)) return static_cast<int64_t>(r) + 1;
  }
  return static_cast<int64_t>(s.size());
}

double energy_kept(const Tensor& S, int64_t r) {
  const std::vector<float> s = S.to_vector();
  double total = 0, kept = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    total += static_cast<double>(s[i]) * s[i];
    if (static_cast<int64_t>(i) < r) kept += static_cast<double>(s[i]) * s[i];
  }
  return total == 0 ? 1.0 : kept / total;
}

}  // namespace ld::lora
