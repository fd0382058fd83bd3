// tensor/vec_math.h: exp and erf written so that the compiler can vectorise loops over them.
//
// std::exp / std::erf are calls into libm, one element at a time; in the element-wise
// loops of SiLU, GELU and softmax they were ~10 % of a training step (perf). These two are
// branch-free float arithmetic, so a loop over them becomes SIMD code. Accuracy: exp_f32
// within 2 ulp of std::exp on [-86, 88.7]; erf_f32 within 5e-7 absolute of std::erf (the
// formula's 1.5e-7 plus float rounding of its terms; a float near 1 has a 6e-8 ulp).
#pragma once
#include <cstdint>
#include <cstring>

namespace ld {

// e^x = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2 in [-ln2/2, ln2/2];
// e^r from Cephes' degree-7 polynomial (1 + r + r^2 (p0 + p1 r + ... + p5 r^5)); 2^n is
// built directly in the float's exponent bits. Below x = -86 the result (< 4e-38) is 0,
// above 88.7 it is +inf; NaN stays NaN. Only ordered compares and selects: a `x != x`
// test would be a branch to the compiler, and the loop would stay scalar.
inline float exp_f32(float x) {
  const float xc = x < -86.0f ? -86.0f : (x > 88.7f ? 88.7f : x);
  // round to nearest by the 1.5 * 2^23 trick (exact for |v| < 2^22)
  const float n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f;
  const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;  // ln 2 = 0.693359375 - 2.12194440e-4
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as 2^(n-1) * 2, so that n = 128 (x up to 88.7) still has a valid exponent. A NaN x
  // gives n = NaN, mapped to a number here so that the int conversion is defined; the NaN
  // still reaches y through r and p.
  const float n_num = n >= -126.0f ? n : -126.0f;
  const int32_t bits = (static_cast<int32_t>(n_num) + 126) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float y = p * scale * 2.0f;
  y = x < -86.0f ? 0.0f : y;
  return x > 88.7f ? __builtin_inff() : y;
}

// erf(x) for x >= 0 by Abramowitz and Stegun 7.1.26:
//   erf(x) = 1 - (a1 t + a2 t^2 + a3 t^3 + a4 t^4 + a5 t^5) e^{-x^2},  t = 1 / (1 + p x)
// and erf(-x) = -erf(x).
// erf_given_exp takes e^{-x^2} from the caller: GELU's gradient needs the same exponential for
// its phi(x) term, and computes it once (tensor/elementwise.cpp).
inline float erf_given_exp(float x, float exp_minus_x2) {
  const float ax = x < 0.0f ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  const float poly =
      t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const float e = 1.0f - poly * exp_minus_x2;
  return x < 0.0f ? -e : e;
}
inline float erf_f32(float x) { return erf_given_exp(x, exp_f32(-x * x)); }

}  // namespace ld
