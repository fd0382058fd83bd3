// diffusion/time_embedding.cpp: the step t of eps_theta(x_t, t, y) as a vector: sinusoidal
// features, then a two-layer MLP (formulas in time_embedding.h).
#include "diffusion/time_embedding.h"

#include <cmath>

#include "autograd/ops.h"

// Shapes: B = batch, F = sinusoidal features (time_freq_dim, 32), E = time embedding width (time_dim, 128).

namespace ld::diffusion {

// t (B) I32 -> (B, dim): sin in columns 0..dim/2-1, cos in dim/2..dim-1
Tensor sinusoidal_embedding(const Tensor& t_in, int64_t dim) {
  check_dtype("sinusoidal_embedding", t_in, DType::I32, "timesteps");
  Tensor t = t_in.contiguous();
  const int64_t B = t.numel(), half = dim / 2;
  Tensor e = Tensor::empty({B, dim});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < half; ++i) {
      const double f = std::exp(-std::log(10000.0) * static_cast<double>(i) / static_cast<double>(half));
      const double arg = static_cast<double>(t.i32()[b]) * f;
      e.f32()[b * dim + i] = static_cast<float>(std::sin(arg));
      e.f32()[b * dim + half + i] = static_cast<float>(std::cos(arg));
    }
  return e;
}

TimeMLP::TimeMLP(int64_t freq_dim_, int64_t dim, Generator& gen)
    : freq_dim(freq_dim_),
      fc1(nn::make<nn::Linear>(freq_dim_, dim, true, gen)),
      fc2(nn::make<nn::Linear>(dim, dim, true, gen)) {
  register_module("fc1", fc1);
  register_module("fc2", fc2);
}

// t (B) I32 -> sinusoidal (B, F) -> fc1 (B, E) -> SiLU -> fc2 (B, E)
ag::Var TimeMLP::forward(const Tensor& t) {
  return fc2->forward(ag::silu(fc1->forward(ag::Var(sinusoidal_embedding(t, freq_dim)))));
}

}  // namespace ld::diffusion
