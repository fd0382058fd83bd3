// tensor/elementwise.cpp: element-wise forward and backward kernels (SiLU, GELU, ...) and
// broadcast binary ops, with the vectorised exp / erf of tensor/vec_math.h.
#include "tensor/elementwise.h"

#include <cmath>

#include "tensor/simd_dispatch.h"
#include "tensor/strided_loop.h"
#include "tensor/vec_math.h"

namespace ld {

const char* unary_name(Unary op) {
  // clang-format off
  static const char* names[] = {"neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "silu", "gelu", "abs",
                                "square"};
  // clang-format on
  return names[static_cast<int>(op)];
}

const char* binary_name(Binary op) {
  static const char* names[] = {"add", "sub", "mul", "div", "maximum", "minimum"};
  return names[static_cast<int>(op)];
}

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// exp_f32 / erf_f32 (tensor/vec_math.h) instead of std::exp / std::erf: they vectorise.
inline float sigmoidf(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

// The forward formulas.
template <Unary op>
inline float unary_f(float x) {
  if constexpr (op == Unary::Neg) return -x;
  if constexpr (op == Unary::Exp) return exp_f32(x);
  if constexpr (op == Unary::Log) return std::log(x);
  if constexpr (op == Unary::Sqrt) return std::sqrt(x);
  if constexpr (op == Unary::Tanh) return std::tanh(x);
  if constexpr (op == Unary::Sigmoid) return sigmoidf(x);
  if constexpr (op == Unary::Relu) return x > 0.0f ? x : 0.0f;
  if constexpr (op == Unary::Silu) return x * sigmoidf(x);                                  // x s(x)
  if constexpr (op == Unary::Gelu) return 0.5f * x * (1.0f + erf_f32(x * kInvSqrt2));  // x Phi(x)
  if constexpr (op == Unary::Abs) return std::fabs(x);
  if constexpr (op == Unary::Square) return x * x;
}

// The derivatives dy/dx, written with x and y = f(x).
template <Unary op>
inline float unary_df(float x, float y) {
  if constexpr (op == Unary::Neg) return -1.0f;
  if constexpr (op == Unary::Exp) return y;           // d e^x = e^x
  if constexpr (op == Unary::Log) return 1.0f / x;    // d log x = 1/x
  if constexpr (op == Unary::Sqrt) return 0.5f / y;   // d sqrt x = 1/(2 sqrt x)
  if constexpr (op == Unary::Tanh) return 1.0f - y * y;
  if constexpr (op == Unary::Sigmoid) return y * (1.0f - y);
  if constexpr (op == Unary::Relu) return x > 0.0f ? 1.0f : 0.0f;
  if constexpr (op == Unary::Silu) {  // s(x) (1 + x (1 - s(x)))
    float s = sigmoidf(x);
    return s * (1.0f + x * (1.0f - s));
  }
  if constexpr (op == Unary::Gelu) {  // Phi(x) + x phi(x); Phi's erf and phi share e^{-x^2/2}
    const float u = x * kInvSqrt2, e = exp_f32(-u * u);
    return 0.5f * (1.0f + erf_given_exp(u, e)) + x * kInvSqrt2Pi * e;
  }
  if constexpr (op == Unary::Abs) return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
  if constexpr (op == Unary::Square) return 2.0f * x;
}

template <Binary op>
inline float binary_f(float a, float b) {
  if constexpr (op == Binary::Add) return a + b;
  if constexpr (op == Binary::Sub) return a - b;
  if constexpr (op == Binary::Mul) return a * b;
  if constexpr (op == Binary::Div) return a / b;
  if constexpr (op == Binary::Max) return a > b ? a : b;
  if constexpr (op == Binary::Min) return a < b ? a : b;
}

template <Unary op>
void unary_cpu(float* y, const float* x, const StridedLoop<2>& L) {
  for_each_row<2>(L, [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
    float* o = y + off[0];
    const float* a = x + off[1];
    if (st[1] == 1)  // contiguous rows: vectorised, AVX2 where the CPU has it (simd_dispatch.h)
      simd_dispatch([&] {
        for (int64_t i = 0; i < n; ++i) o[i] = unary_f<op>(a[i]);
      });
    else
      for (int64_t i = 0; i < n; ++i) o[i] = unary_f<op>(a[i * st[1]]);
  });
}

template <Unary op>
void unary_backward_cpu(float* dx, const float* x, const float* y, const float* dy, const StridedLoop<4>& L) {
  for_each_row<4>(L, [&](std::array<int64_t, 4> off, int64_t n, std::array<int64_t, 4> st) {
    float* o = dx + off[0];
    const float *px = x + off[1], *py = y + off[2], *pdy = dy + off[3];
    if (st[1] == 1 && st[2] == 1 && st[3] == 1)  // contiguous rows: vectorised, AVX2 where available
      simd_dispatch([&] {
        for (int64_t i = 0; i < n; ++i) o[i] = unary_df<op>(px[i], py[i]) * pdy[i];
      });
    else
      for (int64_t i = 0; i < n; ++i) o[i] = unary_df<op>(px[i * st[1]], py[i * st[2]]) * pdy[i * st[3]];
  });
}

template <Binary op>
void binary_cpu(float* o, const float* a, const float* b, const StridedLoop<3>& L) {
  for_each_row<3>(L, [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
    float* po = o + off[0];
    const float* pa = a + off[1];
    const float* pb = b + off[2];
    if (st[1] == 1 && st[2] == 1) {
      simd_dispatch([&] {
        for (int64_t i = 0; i < n; ++i) po[i] = binary_f<op>(pa[i], pb[i]);
      });
    } else if (st[1] == 1 && st[2] == 0) {
      const float vb = *pb;
      for (int64_t i = 0; i < n; ++i) po[i] = binary_f<op>(pa[i], vb);
    } else if (st[1] == 0 && st[2] == 1) {
      const float va = *pa;
      for (int64_t i = 0; i < n; ++i) po[i] = binary_f<op>(va, pb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i] = binary_f<op>(pa[i * st[1]], pb[i * st[2]]);
    }
  });
}

void check_cpu_f32(const char* op, const Tensor& t) {
  check_dtype(op, t, DType::F32);
  if (t.device() != Device::CPU) fail(op, ": no CUDA kernel in this build");
}

}  // namespace

// clang-format off
#define LD_UNARY_CASES(F)                         \
  switch (op) {                                   \
    case Unary::Neg: F(Unary::Neg); break;         \
    case Unary::Exp: F(Unary::Exp); break;         \
    case Unary::Log: F(Unary::Log); break;         \
    case Unary::Sqrt: F(Unary::Sqrt); break;       \
    case Unary::Tanh: F(Unary::Tanh); break;       \
    case Unary::Sigmoid: F(Unary::Sigmoid); break; \
    case Unary::Relu: F(Unary::Relu); break;       \
    case Unary::Silu: F(Unary::Silu); break;       \
    case Unary::Gelu: F(Unary::Gelu); break;       \
    case Unary::Abs: F(Unary::Abs); break;         \
    case Unary::Square: F(Unary::Square); break;   \
  }
// clang-format on

Tensor unary(Unary op, const Tensor& x) {
  check_cpu_f32(unary_name(op), x);
  Tensor y = Tensor::empty(x.shape());
  auto L = make_strided_loop<2>(x.shape(), {y.strides(), x.strides()});
#define LD_RUN(OP) unary_cpu<OP>(y.f32(), x.f32(), L)
  LD_UNARY_CASES(LD_RUN)
#undef LD_RUN
  return y;
}

// Data in cache (a block of a product's output): the arithmetic is the cost, so AVX-512 where the CPU
// has it (simd_dispatch_compute). Each element is computed alone, the same operations at any width.
template <Unary op>
void unary_span_cpu(float* y, const float* x, int64_t n) {
  simd_dispatch_compute([&] {
    for (int64_t i = 0; i < n; ++i) y[i] = unary_f<op>(x[i]);
  });
}

void unary_span(Unary op, float* y, const float* x, int64_t n) {
#define LD_RUN(OP) unary_span_cpu<OP>(y, x, n)
  LD_UNARY_CASES(LD_RUN)
#undef LD_RUN
}

Tensor unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& dy) {
  check_cpu_f32(unary_name(op), dy);
  if (x.shape() != dy.shape() || y.shape() != dy.shape())
    fail(unary_name(op), " backward: gradient shape ", shape_str(dy.shape()), " differs from input ",
         shape_str(x.shape()));
  Tensor dx = Tensor::empty(x.shape());
  auto L = make_strided_loop<4>(x.shape(), {dx.strides(), x.strides(), y.strides(), dy.strides()});
#define LD_RUN(OP) unary_backward_cpu<OP>(dx.f32(), x.f32(), y.f32(), dy.f32(), L)
  LD_UNARY_CASES(LD_RUN)
#undef LD_RUN
  return dx;
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_cpu_f32(name, a);
  check_cpu_f32(name, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor o = Tensor::empty(shape);
  auto L = make_strided_loop<3>(shape, {o.strides(), broadcast_strides(a.shape(), a.strides(), shape),
                                        broadcast_strides(b.shape(), b.strides(), shape)});
  // clang-format off
  switch (op) {
    case Binary::Add: binary_cpu<Binary::Add>(o.f32(), a.f32(), b.f32(), L); break;
    case Binary::Sub: binary_cpu<Binary::Sub>(o.f32(), a.f32(), b.f32(), L); break;
    case Binary::Mul: binary_cpu<Binary::Mul>(o.f32(), a.f32(), b.f32(), L); break;
    case Binary::Div: binary_cpu<Binary::Div>(o.f32(), a.f32(), b.f32(), L); break;
    case Binary::Max: binary_cpu<Binary::Max>(o.f32(), a.f32(), b.f32(), L); break;
    case Binary::Min: binary_cpu<Binary::Min>(o.f32(), a.f32(), b.f32(), L); break;
  }
  // clang-format on
  return o;
}

Tensor affine(const Tensor& x, float a, float b) {
  check_cpu_f32("affine", x);
  Tensor y = Tensor::empty(x.shape());
  auto L = make_strided_loop<2>(x.shape(), {y.strides(), x.strides()});
  float* po = y.f32();
  const float* px = x.f32();
  for_each_row<2>(L, [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
    for (int64_t i = 0; i < n; ++i) po[off[0] + i] = a * px[off[1] + i * st[1]] + b;
  });
  return y;
}

Tensor pow_scalar(const Tensor& x, float p) {
  check_cpu_f32("pow", x);
  Tensor y = Tensor::empty(x.shape());
  auto L = make_strided_loop<2>(x.shape(), {y.strides(), x.strides()});
  float* po = y.f32();
  const float* px = x.f32();
  for_each_row<2>(L, [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
    for (int64_t i = 0; i < n; ++i) po[off[0] + i] = std::pow(px[off[1] + i * st[1]], p);
  });
  return y;
}

void axpy_(const Tensor& dst, float alpha, const Tensor& src) {
  check_cpu_f32("axpy_", dst);
  check_cpu_f32("axpy_", src);
  Shape s = broadcast_shapes(dst.shape(), src.shape(), "axpy_");
  if (s != dst.shape())
    fail("axpy_: source ", shape_str(src.shape()), " does not broadcast to destination ", shape_str(dst.shape()));
  auto L = make_strided_loop<2>(dst.shape(),
                                {dst.strides(), broadcast_strides(src.shape(), src.strides(), dst.shape())});
  float* d = dst.f32();
  const float* p = src.f32();
  for_each_row<2>(L, [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
    float* o = d + off[0];
    const float* a = p + off[1];
    if (st[0] == 1 && st[1] == 1)
      for (int64_t i = 0; i < n; ++i) o[i] += alpha * a[i];
    else
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] += alpha * a[i * st[1]];
  });
}

bool has_non_finite(const Tensor& x) {
  check_cpu_f32("has_non_finite", x);
  Tensor c = x.contiguous();
  const float* p = c.f32();
  int64_t n = c.numel();
  int bad = 0;
#pragma omp parallel for reduction(| : bad) if (n >= kParallelGrain) num_threads(num_threads())
  for (int64_t i = 0; i < n; ++i) bad |= !std::isfinite(p[i]);
  return bad != 0;
}

}  // namespace ld
