// Every sampler of `--sampler` on a problem whose answer is known in closed form. Data x0 ~ N(mu, s^2) per
// pixel; with x_t = a x0 + b eps (a = sqrt(alphabar_t), b = sqrt(1 - alphabar_t)), x_t ~ N(a mu, a^2 s^2 +
// b^2) and the optimal noise prediction is the conditional mean
//   eps*(x_t, t) = E[eps | x_t] = b (x_t - a mu) / (a^2 s^2 + b^2).
// The probability-flow ODE moves every marginal onto the next Gaussian with an increasing affine map, so it
// keeps the standardised value (x_t - a mu) / sqrt(a^2 s^2 + b^2): from x at t it lands on
//   x0 = mu + s (x - a mu) / sqrt(a^2 s^2 + b^2).
// Deterministic solvers (DDIM eta = 0, DPM-Solver++(2M), Euler) must approach that map as steps grow;
// stochastic ones (DDPM, Euler a) must give the data's mean and variance over many samples.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <map>

#include "diffusion/ddim.h"
#include "diffusion/euler.h"
#include "diffusion/sampler.h"
#include "tensor/random.h"

using namespace ld;
using namespace ld::diffusion;

namespace {

constexpr double kMu = 0.3, kS = 0.5;

Tensor map_pixels(const Tensor& x, const std::function<double(double)>& f) {
  Tensor c = x.contiguous();
  Tensor out = Tensor::empty(c.shape());
  for (int64_t i = 0; i < c.numel(); ++i) out.f32()[i] = static_cast<float>(f(c.f32()[i]));
  return out;
}

EpsFn analytic_eps(const NoiseSchedule& s) {
  return [&s](const Tensor& x, int64_t t) {
    const double a = std::sqrt(s.alphabar[t]), b = std::sqrt(1.0 - s.alphabar[t]);
    return map_pixels(x, [=](double v) { return b * (v - a * kMu) / (a * a * kS * kS + b * b); });
  };
}

Tensor exact_pf_ode(const NoiseSchedule& s, const Tensor& x, int64_t t) {
  const double a = std::sqrt(s.alphabar[t]), b = std::sqrt(1.0 - s.alphabar[t]);
  return map_pixels(x,
                    [=](double v) { return kMu + kS * (v - a * kMu) / std::sqrt(a * a * kS * kS + b * b); });
}

double max_abs_diff(const Tensor& p, const Tensor& q) {
  double m = 0;
  for (int64_t i = 0; i < p.numel(); ++i) m = std::max(m, std::fabs(double(p.f32()[i]) - q.f32()[i]));
  return m;
}

SampleOptions toy_options(const std::string& sampler, int64_t steps) {
  SampleOptions o;
  o.sampler = sampler;
  o.steps = steps;
  o.clip_x0 = false;  // the toy data is not bounded to [-1, 1]
  return o;
}

// Error of a deterministic solver against the exact PF-ODE map from the same x at its first timestep.
double ode_error(const NoiseSchedule& s, const std::string& sampler, int64_t steps, const Tensor& x_T) {
  const SampleOptions o = toy_options(sampler, steps);
  const Tensor got = denoise(
      s, analytic_eps(s), [&] { return x_T; }, o);
  const Tensor want = exact_pf_ode(s, x_T, sampler_timesteps(sampler, s, steps)[0]);
  return max_abs_diff(got, want);
}

}  // namespace

TEST_CASE("deterministic samplers converge to the exact probability-flow ODE solution of Gaussian data") {
  const NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  Generator gen(11);
  const Tensor x_T = rand_normal({1, 1, 16, 16}, gen);
  std::map<std::string, std::array<double, 4>> err;
  for (const char* sampler : {"ddim", "dpmpp-2m", "euler"}) {
    CAPTURE(sampler);
    auto& e = err[sampler];
    e = {ode_error(s, sampler, 5, x_T), ode_error(s, sampler, 10, x_T), ode_error(s, sampler, 20, x_T),
         ode_error(s, sampler, 50, x_T)};
    MESSAGE(std::string(sampler), " max error at 5/10/20/50 steps: ", e[0], " ", e[1], " ", e[2], " ", e[3]);
    CHECK(e[1] < e[0]);
    CHECK(e[2] < e[1]);
    CHECK(e[3] < e[2]);
    CHECK(e[3] < 0.1);
  }
  // first order: 2.5 x the steps cut the error about 2.5 x; second order: far more (measured 0.086 -> 0.0034)
  CHECK(err["ddim"][3] > 0.3 * err["ddim"][2]);
  CHECK(err["dpmpp-2m"][3] < 0.25 * err["dpmpp-2m"][2]);
  CHECK(err["dpmpp-2m"][3] < 0.01);
  // the second-order multistep solver beats the first-order one at the same number of model calls
  CHECK(err["dpmpp-2m"][2] < 0.5 * err["ddim"][2]);
  CHECK(err["dpmpp-2m"][1] < err["ddim"][3]);  // even at 10 steps against DDIM at 50
}

TEST_CASE(
    "Euler in Karras' sigma space is DDIM step for step on the same timesteps: Euler = eta 0, Euler a = eta "
    "1") {
  const NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  Generator gen(5);
  Tensor x = rand_normal({1, 1, 8, 8}, gen);
  Tensor y = x;
  const auto eps = analytic_eps(s);
  const std::vector<int64_t> ts = euler_timesteps(1000, 12);
  CHECK(ts.front() == 999);
  CHECK(ts.back() == 0);
  for (size_t i = 0; i < ts.size(); ++i) {
    const int64_t tn = i + 1 < ts.size() ? ts[i + 1] : -1;
    x = euler_step(s, x, eps(x, ts[i]), ts[i], tn, false, true, {});
    y = ddim_step(s, y, eps(y, ts[i]), ts[i], tn, 0.0f, true, gen);
    CHECK(max_abs_diff(x, y) < 1e-5);
  }
  // ancestral: sqrt(alphabar') sigma_up = sqrt((1 - alphabar') / (1 - alphabar)) sqrt(1 - alphabar /
  // alphabar'), DDIM's sigma at eta = 1; with the same z the steps agree
  Tensor z = rand_normal(x.shape(), gen);
  for (size_t i = 0; i + 1 < ts.size(); ++i) {
    const Tensor e = eps(x, ts[i]);
    const Tensor a = euler_step(s, x, e, ts[i], ts[i + 1], true, true, [&] { return z; });
    const Tensor b = ddim_step(s, x, e, ts[i], ts[i + 1], 1.0f, true, [&] { return z; });
    CHECK(max_abs_diff(a, b) < 1e-5);
    CHECK(max_abs_diff(a, euler_step(s, x, e, ts[i], ts[i + 1], false, true, {})) > 1e-3);
  }
}

TEST_CASE("stochastic samplers give the data's mean and variance") {
  const NoiseSchedule s = NoiseSchedule::linear(1000, 1e-4, 0.02);
  const int64_t n = 20000;
  auto moments = [&](const char* sampler, int64_t steps) {
    SampleOptions o = toy_options(sampler, steps);
    Generator gen(21);
    const Tensor x = denoise(
        s, analytic_eps(s),
        [&] {
          return rand_normal({1, 1, n}, gen);
        },
        o);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += x.f32()[i];
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (x.f32()[i] - mean) * (x.f32()[i] - mean);
    var /= double(n - 1);
    MESSAGE(std::string(sampler), " at ", steps, " steps: mean ", mean, " (want ", kMu, "), sd ",
            std::sqrt(var), " (want ", kS, ")");
    return std::pair<double, double>{mean, std::sqrt(var)};
  };
  for (auto [sampler, steps] : {std::pair<const char*, int64_t>{"ddpm", 1000}, {"euler-a", 1000}}) {
    CAPTURE(sampler);
    const auto [mean, sd] = moments(sampler, steps);
    CHECK(std::fabs(mean - kMu) < 0.015);   // 4 standard errors of the mean (0.5 / sqrt(20000) = 0.0035)
    CHECK(std::fabs(sd - kS) < 0.03 * kS);  // 3 %
  }
  // Euler a with fewer, larger steps: a first-order bias in the spread that shrinks with the steps
  const double sd50 = moments("euler-a", 50).second, sd200 = moments("euler-a", 200).second;
  CHECK(std::fabs(sd50 - kS) < 0.15 * kS);
  CHECK(std::fabs(sd200 - kS) < std::fabs(sd50 - kS));
}

TEST_CASE("every sampler visits its timesteps in order and calls on_step and before_step once per step") {
  const NoiseSchedule s = NoiseSchedule::linear(50, 1e-4, 0.2);
  for (const auto& name : sampler_names()) {
    CAPTURE(name);
    SampleOptions o = toy_options(name, 7);
    std::vector<int64_t> seen, before;
    o.on_step = [&](const SampleStep& st) {
      CHECK(st.index == static_cast<int64_t>(seen.size()));
      CHECK(st.total == sample_step_count(o, s));
      seen.push_back(st.t);
    };
    o.before_step = [&](int64_t index, int64_t) { before.push_back(index); };
    Generator gen(2);
    denoise(
        s, analytic_eps(s),
        [&] {
          return rand_normal({1, 1, 4}, gen);
        },
        o);
    CHECK(seen == sampler_timesteps(name, s, 7));
    CHECK(static_cast<int64_t>(before.size()) == sample_step_count(o, s));
  }
  CHECK_THROWS_WITH_AS(check_sampler("heun"), doctest::Contains("--sampler: 'heun' is not a sampler"), Error);
}
