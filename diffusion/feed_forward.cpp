// diffusion/feed_forward.cpp: the transformer MLP, y = fc2(GELU(fc1(x))).
#include "diffusion/feed_forward.h"

#include "autograd/ops.h"

namespace ld::diffusion {

FeedForward::FeedForward(int64_t dim, int64_t hidden, Generator& gen)
    : fc1(nn::make<nn::Linear>(dim, hidden, true, gen)), fc2(nn::make<nn::Linear>(hidden, dim, true, gen)) {
  register_module("fc1", fc1);
  register_module("fc2", fc2);
}

// x (..., dim) -> fc1 (..., hidden) -> GELU -> fc2 (..., dim); e.g. (B, N, C) -> (B, N, 4C) -> (B, N, C).
// fc1 GELUs its own output (Module::forward_gelu: rows while they are in cache), fc2 adds the residual.
// Two plain Linear layers are one op (ag::feed_forward: while sampling, the hidden rows never leave
// the cache); replaced ones (LoRA, low-rank compression) go layer by layer.
ag::Var FeedForward::forward(const ag::Var& x) { return forward_add(x, ag::Var()); }

ag::Var FeedForward::forward_add(const ag::Var& x, const ag::Var& residual) {
  const auto l1 = std::dynamic_pointer_cast<nn::Linear>(fc1), l2 = std::dynamic_pointer_cast<nn::Linear>(fc2);
  if (l1 && l2) {
    l1->check_input(x);
    return ag::feed_forward(x, l1->weight, l1->bias, l2->weight, l2->bias, residual);
  }
  return residual.defined() ? fc2->forward_add(fc1->forward_gelu(x), residual)
                            : fc2->forward(fc1->forward_gelu(x));
}

}  // namespace ld::diffusion
