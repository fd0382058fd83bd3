// autograd/ops/dropout.cpp: inverted dropout (Srivastava et al. 2014).
//   m_i ~ Bernoulli(1 - p) / (1 - p),  y = x * m,  dx = dy * m
// The mask comes from the seeded generator, so a run is reproducible.
#include "autograd/ops.h"
#include "tensor/elementwise.h"

namespace ld::ag {

Var dropout(const Var& x, float p, bool training, Generator& gen, const BatchShard& shard) {
  if (p < 0.0f || p >= 1.0f) fail("dropout: probability ", p, " must be in [0, 1)");
  if (!training || p == 0.0f) return x;
  Tensor mask = dropout_mask(x.shape(), p, gen, shard);  // u >= p ? 1 / (1 - p) : 0, u ~ U[0, 1)
  return make_node(ld::mul(x.value(), mask), "dropout", {x},
                   [mask](Node& self) { self.inputs[0]->accumulate(ld::mul(self.grad, mask)); });
}

}  // namespace ld::ag
