// lora/lora_conv2d.cpp: y = conv(x, W0) + w (alpha / r) conv1x1(conv_kxk(x, A), B) (see lora_conv2d.h).
#include "lora/lora_conv2d.h"

#include "autograd/ops.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/matmul.h"

namespace ld::lora {

LoRAConv2d::LoRAConv2d(std::shared_ptr<nn::Conv2d> base)
    : LoRALayer(base, base->weight, base->bias),
      in_channels(base->in_channels),
      out_channels(base->out_channels),
      kernel_size(base->kernel_size),
      stride(base->stride),
      padding(base->padding) {}

// A: Conv2d(in -> r, k, stride, padding), Kaiming-uniform with fan_in = in*k*k; B: Conv2d(r -> out, 1x1).
std::pair<std::shared_ptr<nn::Module>, std::shared_ptr<nn::Module>> LoRAConv2d::make_pair(int64_t rank,
                                                                                          Generator& gen) {
  auto A = nn::make<nn::Conv2d>(in_channels, rank, kernel_size, stride, padding, false, gen);
  auto B = nn::make<nn::Conv2d>(rank, out_channels, 1, 1, 0, false, gen);
  return {A, B};
}

Var LoRAConv2d::forward(const Var& x) {
  if (x.dim() != 4 || x.size(1) != in_channels)
    fail("LoRAConv2d(", in_channels, ", ", out_channels, ", k=", kernel_size, "): input ",
         shape_str(x.shape()), " must be (N, ", in_channels, ", H, W)");
  std::vector<Tensor> As, sBs;  // the active adapters as (r_i, in*k*k) and s_i B_i (out, r_i) matrices
  bool trains = ag::grad_enabled() && weight.requires_grad();
  for (size_t i = 0; i < num_adapters(); ++i) {
    const LoRAAdapter& a = adapter(i);
    if (a.merged || a.weight == 0.0f) continue;
    const bool dropout = a.dropout && a.dropout->is_training() && a.dropout->p > 0;
    trains = trains || dropout || (ag::grad_enabled() && (a.A().requires_grad() || a.B().requires_grad()));
    As.push_back(a.A().value().reshape({a.rank, -1}));
    sBs.push_back(mul_scalar(a.B().value().reshape({out_channels, a.rank}), a.scale()));
  }
  // Training: two thin convolutions per adapter, so no (out, in, k, k) weight gradient is formed.
  if (trains) return add_adapters(ag::conv2d(x, weight, bias, stride, padding), x);
  if (As.empty()) return ag::conv2d(x, weight, bias, stride, padding);
  // Generation: the adapters merged on the fly into one weight, as one product of their
  // concatenated ranks with each scale folded into its B,
  //   W = W0 + [s_1 B_1 | s_2 B_2 | ...] [A_1; A_2; ...]        (out, in*k*k)
  // one convolution instead of three per adapter, and exactly the product an exact
  // `lora merge --out-lora` file holds (scale 1), so the two sample bit for bit alike.
  Tensor W = weight.value().clone();
  Tensor Wm = W.view({out_channels, in_channels * kernel_size * kernel_size});
  gemm(sBs.size() == 1 ? sBs[0] : concat(sBs, 1), As.size() == 1 ? As[0] : concat(As, 0), Wm, 1.0f, 1.0f);
  return ag::conv2d(x, Var(W), bias, stride, padding);
}

}  // namespace ld::lora
