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
ag::Var FeedForward::forward(const ag::Var& x) { return fc2->forward(fc1->forward_gelu(x)); }

ag::Var FeedForward::forward_add(const ag::Var& x, const ag::Var& residual) {
  return fc2->forward_add(fc1->forward_gelu(x), residual);
}

}  // namespace ld::diffusion
