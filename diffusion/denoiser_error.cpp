// diffusion/denoiser_error.cpp: eps_theta's miss on background pixels, by |z| (see denoiser_error.h).
#include "diffusion/denoiser_error.h"

#include <cmath>

#include "tensor/random.h"

namespace ld::diffusion {

nlohmann::json DenoiserErrorRow::to_json() const {
  return {{"t", t},     {"z", z_range},     {"pixels", pixels},
          {"rms", rms}, {"shrink", shrink}, {"x0_factor", x0_factor}};
}

std::vector<DenoiserErrorRow> denoiser_error(const NoiseSchedule& s, const Tensor& x0_in,
                                             const EpsPredictor& eps, const std::vector<int64_t>& timesteps,
                                             uint64_t seed) {
  if (x0_in.dim() != 4) fail("denoiser_error: images ", shape_str(x0_in.shape()), " must be (B, C, H, W)");
  const Tensor x0 = x0_in.contiguous();
  const int64_t B = x0.size(0), n = x0.numel();
  static const char* kRanges[3] = {"|z|<2", "2<=|z|<3", "|z|>=3"};
  Generator gen(seed);
  std::vector<DenoiserErrorRow> rows;
  for (int64_t t : timesteps) {
    if (t < 0 || t >= s.T()) fail("denoiser_error: timestep ", t, " is outside 0..", s.T() - 1);
    const Tensor z = rand_normal(x0.shape(), gen);
    Tensor tt = Tensor::empty({B}, DType::I32);
    for (int64_t b = 0; b < B; ++b) tt.i32()[b] = static_cast<int32_t>(t);
    const Tensor e = eps(q_sample(s, x0, tt, z), tt).contiguous();
    if (e.shape() != x0.shape())
      fail("denoiser_error: prediction ", shape_str(e.shape()), " for images ", shape_str(x0.shape()));
    double se[3] = {}, sh[3] = {};
    int64_t cnt[3] = {};
    for (int64_t i = 0; i < n; ++i) {
      if (x0.f32()[i] > -0.999f) continue;  // ink
      const double zi = z.f32()[i], d = zi - e.f32()[i], a = std::fabs(zi);
      const int bin = a < 2 ? 0 : (a < 3 ? 1 : 2);
      se[bin] += d * d;
      sh[bin] += zi >= 0 ? d : -d;
      ++cnt[bin];
    }
    for (int bin = 0; bin < 3; ++bin) {
      DenoiserErrorRow r;
      r.t = t;
      r.z_range = kRanges[bin];
      r.pixels = cnt[bin];
      r.rms = cnt[bin] ? std::sqrt(se[bin] / double(cnt[bin])) : NAN;
      r.shrink = cnt[bin] ? sh[bin] / double(cnt[bin]) : NAN;
      r.x0_factor = std::sqrt(1.0 - s.alphabar[t]) / std::sqrt(s.alphabar[t]);
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace ld::diffusion
