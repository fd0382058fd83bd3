// nn/dropout.h: inverted dropout (Srivastava et al. 2014), active in training mode only.
//   training: y = x * m,  m_i = Bernoulli(1 - p) / (1 - p);   eval: y = x
// The mask comes from the layer's own Philox generator, seeded at construction,
// so a run is reproducible; generator() exposes it for checkpoint resume.
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace ld::nn {

class Dropout : public Module {
 public:
  // The layer's generator is seeded from `gen` (one draw), so layers differ.
  Dropout(float p, Generator& gen);
  std::string type_name() const override { return "Dropout"; }
  Var forward(const Var& x) override;
  Generator& generator() { return gen_; }

  float p;
  BatchShard shard;  // data-parallel training: which samples of the batch this process computes

 private:
  Generator gen_;
};

// Sets `shard` on every Dropout of `model` (adapter dropouts included) before a data-parallel step.
void set_batch_shard(Module& model, const BatchShard& shard);

}  // namespace ld::nn
