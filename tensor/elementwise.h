// tensor/elementwise.h: element-wise maths with NumPy broadcasting (CPU; CUDA dispatch point).
#pragma once
#include "tensor/tensor.h"

namespace ld {

enum class Unary { Neg, Exp, Log, Sqrt, Tanh, Sigmoid, Relu, Silu, Gelu, Abs, Square };
enum class Binary { Add, Sub, Mul, Div, Max, Min };

const char* unary_name(Unary op);
const char* binary_name(Binary op);

// y = f(x)
Tensor unary(Unary op, const Tensor& x);
// y[i] = f(x[i]) for i < n on contiguous memory in cache, on the calling thread (for fused epilogues
// such as gemm_bias_gelu, tensor/matmul.h): the formula of unary, element by element, so the bits are
// unary's; AVX-512 where the CPU has it (simd_dispatch_compute). y may be x.
void unary_span(Unary op, float* y, const float* x, int64_t n);
// dx = f'(x) * dy, the derivative written in terms of x and y = f(x) (see elementwise.cpp)
Tensor unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& dy);
// out = a (op) b, shapes broadcast
Tensor binary(Binary op, const Tensor& a, const Tensor& b);

inline Tensor add(const Tensor& a, const Tensor& b) { return binary(Binary::Add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(Binary::Sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(Binary::Mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(Binary::Div, a, b); }

// y = a * x + b (scalars)
Tensor affine(const Tensor& x, float a, float b);
inline Tensor mul_scalar(const Tensor& x, float s) { return affine(x, s, 0.0f); }
inline Tensor add_scalar(const Tensor& x, float s) { return affine(x, 1.0f, s); }
// y = x^p
Tensor pow_scalar(const Tensor& x, float p);
// dst += alpha * src  (src broadcast to dst's shape); the gradient accumulation primitive
void axpy_(const Tensor& dst, float alpha, const Tensor& src);
// true when any element is NaN or +-Inf
bool has_non_finite(const Tensor& x);

}  // namespace ld
