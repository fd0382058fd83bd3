// nn/gradcheck_module.h: ag::gradcheck through a module's parameters and its inputs.
//
// The module's parameters are appended to `inputs`; for each evaluation the
// module's parameter slots are rebound to the Vars gradcheck perturbs, so the
// finite differences see every weight, and the analytic gradients are the ones
// the layer's backward pushes into its parameters. The original Vars are put
// back afterwards. Frozen parameters (requires_grad false) are left out.
#pragma once
#include <functional>

#include "autograd/gradcheck.h"
#include "nn/module.h"

namespace ld::nn {

// f gets the Vars of `inputs` (in order) and returns the module's output.
ag::GradcheckResult gradcheck_module(Module& m, const std::function<Var(const std::vector<Var>&)>& f,
                                     const std::vector<Tensor>& inputs, const ag::GradcheckOptions& opt = {});

}  // namespace ld::nn
