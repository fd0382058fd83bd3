// nn/embedding.cpp: see embedding.h.
#include "nn/embedding.h"

#include "autograd/ops.h"

namespace ld::nn {

Embedding::Embedding(int64_t num, int64_t d, Generator& gen) : num_embeddings(num), dim(d) {
  if (num <= 0 || d <= 0) fail("Embedding: sizes (", num, ", ", d, ") must be positive");
  weight = Var(rand_normal({num, d}, gen), true);
  register_parameter("weight", weight);
}

Var Embedding::forward(const Tensor& ids) {
  check_dtype("Embedding", ids, DType::I32, "ids");
  Tensor c = ids.contiguous();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (c.i32()[i] < 0 || c.i32()[i] >= num_embeddings)
      fail("Embedding(", num_embeddings, ", ", dim, "): id ", c.i32()[i], " at position ", i,
           " is out of range");
  return ag::embedding(c, weight);
}

}  // namespace ld::nn
