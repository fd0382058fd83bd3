// diffusion/feed_forward.h: the transformer MLP, y = fc2(GELU(fc1(x))).
// Used by the text encoder layers (64 -> 256 -> 64) and the UNet's AttnBlocks (c -> 4c -> c).
#pragma once
#include "nn/linear.h"

namespace ld::diffusion {

class FeedForward : public nn::Module {
 public:
  FeedForward(int64_t dim, int64_t hidden, Generator& gen);
  std::string type_name() const override { return "FeedForward"; }
  ag::Var forward(const ag::Var& x) override;
  ag::Var forward_add(const ag::Var& x, const ag::Var& residual) override;  // residual + ff(x), added by fc2

  std::shared_ptr<nn::Module> fc1, fc2;  // Linear (replaceable: low-rank compression swaps them)
};

}  // namespace ld::diffusion
