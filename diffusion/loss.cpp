// diffusion/loss.cpp: the training loss, Eq. (1): draw t and eps, x_t = q_sample(x_0, t, eps),
// mse(eps_theta(x_t, t, y), eps) (or mse(v_theta, v), prediction.h), with the caption emptied with
// probability p_uncond.
#include "diffusion/loss.h"

#include "autograd/ops.h"
#include "diffusion/prediction.h"
#include "nn/dropout.h"

namespace ld::diffusion {

Tensor empty_captions(int64_t B, int64_t L) {
  Tensor ids = Tensor::zeros({B, L}, DType::I32);
  for (int64_t b = 0; b < B; ++b) ids.i32()[b * L] = 1;  // <bos>
  return ids;
}

ag::Var diffusion_loss(TextToImageModel& model, const NoiseSchedule& s, const Tensor& x0,
                       const Tensor& ids_in, float p_uncond, Generator& gen, const BatchShard& shard) {
  const int64_t B = x0.size(0), L = ids_in.size(1);
  Tensor t = rand_int({B}, 0, s.T(), gen, shard);
  Tensor eps = rand_normal(x0.shape(), gen, shard);
  Tensor drop = rand_uniform({B}, gen, shard);
  Tensor ids = ids_in.contiguous().clone();
  for (int64_t b = 0; b < B; ++b)
    if (drop.f32()[b] < p_uncond)
      for (int64_t i = 0; i < L; ++i) ids.i32()[b * L + i] = i == 0 ? 1 : 0;
  Tensor xt = q_sample(s, x0, t, eps);
  nn::set_batch_shard(model, shard);  // the dropout masks too are the shard's part of the batch's
  ag::Var pred = model.forward(ag::Var(xt), t, ids);
  // the target is eps (loss (1)) or v for a "v_prediction" model (prediction.h)
  return ag::mse_loss(pred, ag::Var(prediction_target(model.config.prediction_type, s, x0, eps, t)));
}

}  // namespace ld::diffusion
