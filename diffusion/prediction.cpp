// diffusion/prediction.cpp: the epsilon / v targets and v -> eps (see prediction.h).
#include "diffusion/prediction.h"

#include <cmath>

#include "tensor/error.h"

namespace ld::diffusion {

namespace {

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
  return mix_at_timesteps(
      s, eps, [](double ab) { return std::sqrt(ab); }, x0, [](double ab) { return -std::sqrt(1.0 - ab); }, t,
      "prediction_target");
}

Tensor eps_from_prediction(const std::string& type, const NoiseSchedule& s, const Tensor& x_t,
                           const Tensor& out, int64_t t) {
  check_type(type);
  if (type == "epsilon") return out;
  // eps = a v + n x_t
  const Tensor tt =
      Tensor::from_ints(std::vector<int32_t>(x_t.size(0), static_cast<int32_t>(t)), {x_t.size(0)});
  return mix_at_timesteps(
      s, out, [](double ab) { return std::sqrt(ab); }, x_t, [](double ab) { return std::sqrt(1.0 - ab); }, tt,
      "eps_from_prediction");
}

}  // namespace ld::diffusion
