// diffusion/frechet.h: the Frechet distance between two sets of feature vectors,
// each summarised as a Gaussian N(mu, Sigma) (Heusel et al. 2017, "FID"):
//   d^2 = ||mu_a - mu_b||^2 + Tr(Sigma_a + Sigma_b - 2 (Sigma_a Sigma_b)^{1/2})
// Here the features come from our MNIST classifier (nn/classifier.h), not Inception.
// Tr((Sigma_a Sigma_b)^{1/2}) = sum_i sqrt(lambda_i) with lambda_i the eigenvalues of
// the symmetric matrix Sigma_a^{1/2} Sigma_b Sigma_a^{1/2} (LAPACKE dsyevd, in double).
#pragma once
#include "tensor/tensor.h"

namespace ld::diffusion {

// a (N, D), b (M, D); N, M >= 2
double frechet_distance(const Tensor& a, const Tensor& b);

}  // namespace ld::diffusion
