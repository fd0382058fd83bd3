// autograd/gradcheck_cases.h: one or more gradient checks for every op in ops.h,
// including broadcast shapes and non-contiguous (permuted / sliced) inputs.
// Used by tests/autograd/test_gradcheck_ops.cpp and by `loradiff gradcheck`.
#pragma once
#include "autograd/gradcheck.h"

namespace ld::ag {

struct GradcheckCase {
  std::string name;  // "<op>/<variant>"
  GradcheckFn fn;
  std::vector<Tensor> inputs;
  GradcheckOptions options;
};

std::vector<GradcheckCase> gradcheck_cases();

}  // namespace ld::ag
