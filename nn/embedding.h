// nn/embedding.h: a learned lookup table (token and position embeddings).
//   y[..., :] = weight[ids[...], :]      ids I32 (any shape) -> ids.shape + (dim)
// weight (num, dim) starts N(0, 1) like PyTorch's. Backward (ag::embedding): rows
// of dweight gather the gradients of every position that used them.
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace ld::nn {

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, Generator& gen);
  std::string type_name() const override { return "Embedding"; }
  Var forward(const Tensor& ids);  // ids I32, each in [0, num_embeddings)
  // The Module interface: the Var's value holds the ids (I32).
  Var forward(const Var& ids) override { return forward(ids.value()); }

  int64_t num_embeddings, dim;
  Var weight;  // (num, dim)
};

}  // namespace ld::nn
