// autograd/ops.h: every differentiable op. Each is defined, forward and backward
// side by side under its formula, in autograd/ops/<name>.cpp (see docs/autograd.md).
#pragma once
#include <optional>

#include "autograd/var.h"
#include "tensor/random.h"

namespace ld::ag {

// --- arithmetic (ops/arithmetic.cpp), NumPy broadcasting
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var neg(const Var& a);
Var scale(const Var& a, float s);       // s * a
Var add_scalar(const Var& a, float s);  // a + s
inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }
inline Var operator/(const Var& a, const Var& b) { return div(a, b); }
inline Var operator-(const Var& a) { return neg(a); }
inline Var operator*(const Var& a, float s) { return scale(a, s); }
inline Var operator*(float s, const Var& a) { return scale(a, s); }
inline Var operator+(const Var& a, float s) { return add_scalar(a, s); }

// --- element-wise functions (ops/unary.cpp)
Var exp(const Var& x);
Var log(const Var& x);
Var sqrt(const Var& x);
Var pow(const Var& x, float p);
Var tanh(const Var& x);
Var sigmoid(const Var& x);
Var relu(const Var& x);
Var silu(const Var& x);
Var gelu(const Var& x);  // exact erf form

// --- products (ops/matmul.cpp, ops/linear.cpp)
Var matmul(const Var& a, const Var& b);  // (..., M, K) @ (..., K, N); batched = bmm
// y = x W^T + b over the last axis of x; W (out, in), b (out) or undefined. With a residual r
// (shaped as y): y = (x W^T + b) + r, the layer and its residual connection in one pass.
Var linear(const Var& x, const Var& w, const Var& b = Var(), const Var& residual = Var());
// GELU(x W^T + b) in one op: the product's rows are GELU'd while in cache (same bits as gelu(linear(...)))
Var linear_gelu(const Var& x, const Var& w, const Var& b = Var());
// A transformer MLP, linear(linear_gelu(x, w1, b1), w2, b2, residual), with the same bits. Without a
// backward to record (sampling) it is one op whose hidden rows never leave the cache (tensor/matmul.h
// gemm_mlp_gelu); with one, it is those two ops.
Var feed_forward(const Var& x, const Var& w1, const Var& b1, const Var& w2, const Var& b2,
                 const Var& residual = Var());

// --- reductions (ops/reduce.cpp)
Var sum(const Var& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Var mean(const Var& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);

// --- views and joins (ops/shape.cpp)
Var reshape(const Var& x, const Shape& shape);
Var permute(const Var& x, const std::vector<int64_t>& axes);
Var transpose(const Var& x, int64_t a, int64_t b);
Var narrow(const Var& x, int64_t axis, int64_t start, int64_t length);  // slice
Var expand(const Var& x, const Shape& shape);
Var concat(const std::vector<Var>& parts, int64_t axis);

// --- softmax (ops/softmax.cpp)
Var softmax(const Var& x, int64_t axis = -1);
Var log_softmax(const Var& x, int64_t axis = -1);

// --- layers' maths (ops/conv2d.cpp, upsample.cpp, group_norm.cpp, layer_norm.cpp, embedding.cpp,
// dropout.cpp)
// With a residual r (shaped as the output): (conv2d(x, w) + b) + r, added as each plane is written.
Var conv2d(const Var& x, const Var& w, const Var& b, int64_t stride = 1, int64_t padding = 0,
           const Var& residual = Var());
Var upsample_nearest2x(const Var& x);
// conv2d(upsample_nearest2x(x), w, b, stride, padding), with the same bits; without a backward to
// record (sampling) one op whose convolution upsamples its input as it reads it (tensor/conv.h
// conv2d_forward_upsampled_in: the upsampled tensor never goes to memory); with one, the two ops.
Var upsample_nearest2x_conv2d(const Var& x, const Var& w, const Var& b, int64_t stride = 1,
                              int64_t padding = 0);
Var group_norm(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps = 1e-5f);
// silu(group_norm(x)) in one op: the normalised tensor is never stored (recomputed in backward)
Var group_norm_silu(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps = 1e-5f);
// conv2d(group_norm_silu(x, ...), w, b, stride, padding, residual), with the same bits. Without a
// backward to record (sampling) it is one op whose convolution normalises its input as it reads it
// (tensor/conv.h conv2d_forward_silu_in: the normalised tensor never goes to memory); with one, the
// two ops.
Var group_norm_silu_conv2d(const Var& x, int64_t groups, const Var& gamma, const Var& beta, float eps,
                           const Var& w, const Var& b, int64_t stride = 1, int64_t padding = 0,
                           const Var& residual = Var());
Var layer_norm(const Var& x, const Var& gamma, const Var& beta, float eps = 1e-5f);
Var embedding(const Tensor& ids, const Var& table);  // ids I32 (any shape) -> ids.shape + (D,)
// Inverted dropout: keep with probability 1-p, scale kept values by 1/(1-p). Identity when !training.
// With a BatchShard, x holds samples [first, first + count) of a batch and the mask is those samples'
// part of the whole batch's mask (data-parallel training, tensor/random.h).
Var dropout(const Var& x, float p, bool training, Generator& gen, const BatchShard& shard = {});

// --- losses (ops/loss.cpp)
Var mse_loss(const Var& pred, const Var& target);             // mean((pred - target)^2)
Var cross_entropy(const Var& logits, const Tensor& targets);  // logits (N, C), targets I32 (N); mean over N

// --- attention (ops/attention.cpp)
// softmax(q k^T / sqrt(d) + mask) v for q (B, H, Lq, d), k and v (B, H, Lk, d).
// key_keep (B, Lk) F32: 1 = attend, 0 = padding (masked); undefined = no mask.
Var scaled_dot_product_attention(const Var& q, const Var& k, const Var& v, const Tensor& key_keep = Tensor());
// The same per head, fused (tensor/attention.h): q (B, Lq, heads*d), k and v (B, Lk, heads*d) in the
// projections' layout -> (B, Lq, heads*d), heads side by side. No (B, heads, Lq, Lk) score matrix is
// stored and no head split/merge is copied; the backward rebuilds the probabilities from the saved
// row log-sum-exp.
Var multi_head_attention(const Var& q, const Var& k, const Var& v, int64_t heads,
                         const Tensor& key_keep = Tensor());

}  // namespace ld::ag
