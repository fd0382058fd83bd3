// tensor/softmax.cpp: stable softmax and log-softmax along an axis, and their backwards.
#include "tensor/softmax.h"

#include <cmath>
#include <limits>

#include "tensor/parallel.h"
#include "tensor/reference.h"
#include "tensor/simd_dispatch.h"
#include "tensor/vec_math.h"

namespace ld {

namespace {

// Run f(row pointers..., n) on every row along `axis`, after moving the axis last
// and making the data contiguous; returns the result moved back.
template <class F>
Tensor along_rows(const char* op, const Tensor& x, const Tensor* other, int64_t axis, F f) {
  check_dtype(op, x, DType::F32);
  if (x.device() != Device::CPU) fail(op, ": no CUDA kernel in this build");
  int a = normalize_axis(axis, x.dim(), op);
  int last = static_cast<int>(x.dim()) - 1;
  Tensor xc = x.transpose(a, last).contiguous();
  Tensor oc;
  if (other) {
    if (other->shape() != x.shape())
      fail(op, ": gradient shape ", shape_str(other->shape()), " differs from ", shape_str(x.shape()));
    oc = other->transpose(a, last).contiguous();
  }
  Tensor y = Tensor::empty(xc.shape());
  const int64_t n = x.dim() ? x.shape()[a] : 1, rows = n ? x.numel() / n : 0;
  const float* px = xc.f32();
  const float* po = other ? oc.f32() : nullptr;
  float* py = y.f32();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelGrain) num_threads(num_threads())
  for (int64_t r = 0; r < rows; ++r)  // AVX2 where the CPU has it (simd_dispatch.h)
    simd_dispatch([&] { f(px + r * n, po ? po + r * n : nullptr, py + r * n, n); });
  return y.transpose(a, last);
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) {
  if (use_reference_kernels()) return softmax_reference(x, axis);
  return along_rows("softmax", x, nullptr, axis, [](const float* x, const float*, float* y, int64_t n) {
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
    if (m == -std::numeric_limits<float>::infinity()) {
      for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
      return;
    }
    for (int64_t i = 0; i < n; ++i) y[i] = exp_f32(x[i] - m);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += y[i];
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  });
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis) {
  if (use_reference_kernels()) return softmax_backward_reference(y, dy, axis);
  return along_rows("softmax backward", y, &dy, axis,
                    [](const float* y, const float* dy, float* dx, int64_t n) {
                      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                      for (int64_t i = 0; i < n; ++i) dot += dy[i] * y[i];
                      for (int64_t i = 0; i < n; ++i) dx[i] = y[i] * (dy[i] - dot);
                    });
}

Tensor log_softmax(const Tensor& x, int64_t axis) {
  return along_rows("log_softmax", x, nullptr, axis, [](const float* x, const float*, float* y, int64_t n) {
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += exp_f32(x[i] - m);
    const float lse = m + std::log(s);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - lse;
  });
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis) {
  return along_rows("log_softmax backward", y, &dy, axis,
                    [](const float* y, const float* dy, float* dx, int64_t n) {
                      float s = 0.0f;
#pragma omp simd reduction(+ : s)
                      for (int64_t i = 0; i < n; ++i) s += dy[i];
                      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] - exp_f32(y[i]) * s;
                    });
}

}  // namespace ld
