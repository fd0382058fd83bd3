// nn/dropout.cpp: see dropout.h.
#include "nn/dropout.h"

#include "autograd/ops.h"

namespace ld::nn {

Dropout::Dropout(float prob, Generator& gen) : p(prob), gen_(gen.next_u32()) {
  if (p < 0.0f || p >= 1.0f) fail("Dropout: probability ", p, " must be in [0, 1)");
}

Var Dropout::forward(const Var& x) { return ag::dropout(x, p, is_training(), gen_, shard); }

void set_batch_shard(Module& model, const BatchShard& shard) {
  for (auto& [name, m] : model.named_modules())
    if (auto d = std::dynamic_pointer_cast<Dropout>(m)) d->shard = shard;
}

}  // namespace ld::nn
