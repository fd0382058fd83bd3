// nn/activation.cpp: see activation.h.
#include "nn/activation.h"

#include "autograd/ops.h"

namespace ld::nn {

Var SiLU::forward(const Var& x) { return ag::silu(x); }
Var GELU::forward(const Var& x) { return ag::gelu(x); }
Var ReLU::forward(const Var& x) { return ag::relu(x); }

}  // namespace ld::nn
