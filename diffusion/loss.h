// diffusion/loss.h: the training objective, Eq. (1) of the article (Ho et al. 2020):
//   L_DM = E_{x_0, eps ~ N(0, I), t ~ U{0..T-1}} || eps - eps_theta(x_t, t, y) ||^2,
//   x_t = q_sample(x_0, t, eps)
// With probability p_uncond a caption is replaced by the empty caption (<bos> only), so
// the same network also learns eps_theta(x_t, t, {}) for classifier-free guidance. A model whose
// config says "prediction_type": "v_prediction" learns v instead of eps (prediction.h).
#pragma once
#include "diffusion/model.h"
#include "diffusion/schedule.h"
#include "tensor/random.h"

namespace ld::diffusion {

// x0 (B, C, H, W) in [-1, 1], ids I32 (B, L). Draws t, eps and the caption dropout from gen. With a
// shard, x0 holds samples [first, first + count) of a batch and gets exactly those samples' draws
// (data-parallel training); the loss is still the mean over the B = count samples given.
ag::Var diffusion_loss(TextToImageModel& model, const NoiseSchedule& s, const Tensor& x0, const Tensor& ids,
                       float p_uncond, Generator& gen, const BatchShard& shard = {});

// The empty caption: <bos> then <pad>s, (B, L).
Tensor empty_captions(int64_t B, int64_t L);

}  // namespace ld::diffusion
