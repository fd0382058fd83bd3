// diffusion/time_embedding.h: how the UNet is told the step t of eps_theta(x_t, t, y).
//   sinusoidal(t, D) = [sin(t f_0), .., sin(t f_{D/2-1}), cos(t f_0), .., cos(t f_{D/2-1})],
//   f_i = exp(-ln(10000) i / (D/2)),  t the integer step 0..T-1
//   temb = fc2(SiLU(fc1(sinusoidal(t))))            (reference model: 32 -> 128 -> 128)
#pragma once
#include "nn/linear.h"

namespace ld::diffusion {

// t I32 (B) -> (B, D), a constant (no parameters)
Tensor sinusoidal_embedding(const Tensor& t, int64_t dim);

class TimeMLP : public nn::Module {
 public:
  TimeMLP(int64_t freq_dim, int64_t dim, Generator& gen);
  std::string type_name() const override { return "TimeMLP"; }
  ag::Var forward(const Tensor& t);

  int64_t freq_dim;
  std::shared_ptr<nn::Module> fc1, fc2;
};

}  // namespace ld::diffusion
