// autograd/gradcheck.h: checking a backward against finite differences.
//
// For inputs x_1..x_k and a function f, we compare the analytic gradient of
//   L = sum(f(x) * R)            (R a fixed random tensor, so every output matters)
// with the central difference (L(x + h e_i) - L(x - h e_i)) / 2h for every element
// i of every input, computed in double from float32 evaluations. Inputs may be
// non-contiguous views (permuted, sliced): elements are perturbed in place.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/var.h"

namespace ld::ag {

struct GradcheckOptions {
  double eps = 1e-3;   // finite-difference step h
  double atol = 2e-3;  // pass when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 2e-2;
  uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  int64_t checked = 0;       // elements compared
  double max_abs_error = 0;  // worst |analytic - numeric|
  std::string message;       // first failure: input, element, both values
};

using GradcheckFn = std::function<Var(const std::vector<Var>&)>;

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt = {});

}  // namespace ld::ag
