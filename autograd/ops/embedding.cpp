// autograd/ops/embedding.cpp: a lookup table.
//   y[k, :] = E[ids[k], :]          dE[ids[k], :] += dy[k, :]   (rows used twice get both gradients)
// ids are integers and get no gradient.
#include "tensor/index.h"

#include "autograd/ops.h"

namespace ld::ag {

Var embedding(const Tensor& ids, const Var& table) {
  return make_node(index_select_rows(table.value(), ids), "embedding", {table}, [ids](Node& self) {
    Node& table = *self.inputs[0];
    Tensor g = Tensor::zeros(table.value.shape());
    index_add_rows_(g, ids, self.grad);
    table.accumulate(g);
  });
}

}  // namespace ld::ag
