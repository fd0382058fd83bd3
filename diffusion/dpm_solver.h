// diffusion/dpm_solver.h: DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Alg. 2), the multistep
// second-order solver of the probability-flow ODE in data prediction, as diffusers'
// DPMSolverMultistepScheduler (algorithm_type "dpmsolver++", solver_order 2, midpoint, lower-order final).
//
// With alpha_t = sqrt(alphabar_t), sigma_t = sqrt(1 - alphabar_t), lambda_t = log(alpha_t / sigma_t) and the
// data prediction m_t = x0_hat(x_t, t) = (x_t - sigma_t eps) / alpha_t (clipped to [-1, 1]), one step from
// s0 to t (the step before went from s1 to s0 with prediction m_{s1}):
//   h = lambda_t - lambda_s0,  r0 = (lambda_s0 - lambda_s1) / h
//   D0 = m_s0,  D1 = (m_s0 - m_s1) / r0
//   x_t = (sigma_t / sigma_s0) x_s0 - alpha_t (e^{-h} - 1) D0 - 1/2 alpha_t (e^{-h} - 1) D1
// The first step (no s1 yet) and the last one (to sigma = 0, where h is infinite) are first order,
// D1 = 0 (= DDIM, eta = 0); the last step therefore returns m_s0.
// The timesteps are uniform in lambda (Lu et al.'s logSNR spacing; diffusers' use_lu_lambdas): DDIM's
// uniform-in-t steps end with one step of h ~ 3.5 (t = 100 -> 0 at 10 steps) after steps of h ~ 0.7, and the
// multistep extrapolation (m_s0 - m_s1) / r0 with r0 ~ 0.2 then overshoots (tests/diffusion/test_samplers).
#pragma once
#include <vector>

#include "diffusion/schedule.h"

namespace ld::diffusion {

// x0_hat = (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t), clipped to [-1, 1] when clip_x0.
Tensor data_prediction(const NoiseSchedule& s, const Tensor& x_t, const Tensor& eps, int64_t t, bool clip_x0);
// One DPM-Solver++(2M) step from s0 to t < s0 (t = -1: to x_0). m_s0 = data_prediction at s0;
// s1 = the previous timestep (> s0) with its prediction m_s1, or s1 = -1 (m_s1 unused) for a first-order
// step.
Tensor dpmpp_2m_step(const NoiseSchedule& s, const Tensor& x_s0, const Tensor& m_s0, int64_t s0, int64_t t,
                     const Tensor& m_s1, int64_t s1);
// `steps` timesteps from T-1 down to 0, evenly spaced in lambda, each rounded to the nearest timestep and
// then moved apart where rounding made two equal (near t = 0 one timestep spans a wide lambda range).
std::vector<int64_t> dpm_solver_timesteps(const NoiseSchedule& s, int64_t steps);

}  // namespace ld::diffusion
