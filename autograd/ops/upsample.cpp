// autograd/ops/upsample.cpp: nearest-neighbour 2x upsampling (the UNet's Upsample).
//   y[n,c,2i+a,2j+b] = x[n,c,i,j]       dx[n,c,i,j] = sum_{a,b} dy[n,c,2i+a,2j+b]
#include "tensor/index.h"

#include "autograd/ops.h"

namespace ld::ag {

Var upsample_nearest2x(const Var& x) {
  return make_node(ld::upsample_nearest2x(x.value()), "upsample_nearest2x", {x}, [](Node& self) {
    self.inputs[0]->accumulate(upsample_nearest2x_backward(self.grad));
  });
}

}  // namespace ld::ag
