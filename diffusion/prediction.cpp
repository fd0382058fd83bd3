// diffusion/prediction.cpp: the epsilon / v targets and v -> eps (see prediction.h).
#include "diffusion/prediction.h"

#include <cmath>

#include "tensor/error.h"

namespace ld::diffusion {

namespace {

// out[b] = ca(t_b) A[b] + cb(t_b) B[b], per sample b; ca and cb map alphabar_t to a coefficient.
template <class CA, class CB>
Tensor mix(const NoiseSchedule& s, const Tensor& A_in, const Tensor& B_in, const Tensor& t_in, CA ca, CB cb,
           const char* what) {
  if (A_in.shape() != B_in.shape())
    fail(what, ": ", shape_str(A_in.shape()), " and ", shape_str(B_in.shape()), " differ");
  check_dtype(what, t_in, DType::I32, "timesteps");
  const int64_t batch = A_in.size(0), per = A_in.numel() / std::max<int64_t>(batch, 1);
  if (t_in.numel() != batch) fail(what, ": ", t_in.numel(), " timesteps for a batch of ", batch);
  const Tensor A = A_in.contiguous(), B = B_in.contiguous(), t = t_in.contiguous();
  Tensor out = Tensor::empty(A.shape());
  for (int64_t b = 0; b < batch; ++b) {
    const int32_t tb = t.i32()[b];
    if (tb < 0 || tb >= s.T()) fail(what, ": timestep ", tb, " outside [0, ", s.T(), ")");
    const float fa = static_cast<float>(ca(s.alphabar[tb])), fb = static_cast<float>(cb(s.alphabar[tb]));
    const float *pa = A.f32() + b * per, *pb = B.f32() + b * per;
    float* po = out.f32() + b * per;
    for (int64_t i = 0; i < per; ++i) po[i] = fa * pa[i] + fb * pb[i];
  }
  return out;
}

void check_type(const std::string& type) {
  if (!is_prediction_type(type))
    fail("prediction_type '", type, "' is not known (expected \"epsilon\" or \"v_prediction\")");
}

}  // namespace

bool is_prediction_type(const std::string& type) { return type == "epsilon" || type == "v_prediction"; }

Tensor prediction_target(const std::string& type, const NoiseSchedule& s, const Tensor& x0, const Tensor& eps,
                         const Tensor& t) {
  check_type(type);
  if (type == "epsilon") return eps;
  // v = a eps - n x_0
  return mix(
      s, eps, x0, t, [](double ab) { return std::sqrt(ab); }, [](double ab) { return -std::sqrt(1.0 - ab); },
      "prediction_target");
}

Tensor eps_from_prediction(const std::string& type, const NoiseSchedule& s, const Tensor& x_t,
                           const Tensor& out, int64_t t) {
  check_type(type);
  if (type == "epsilon") return out;
  // eps = a v + n x_t
  const Tensor tt =
      Tensor::from_ints(std::vector<int32_t>(x_t.size(0), static_cast<int32_t>(t)), {x_t.size(0)});
  return mix(
      s, out, x_t, tt, [](double ab) { return std::sqrt(ab); }, [](double ab) { return std::sqrt(1.0 - ab); },
      "eps_from_prediction");
}

}  // namespace ld::diffusion
