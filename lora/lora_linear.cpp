// lora/lora_linear.cpp: h = W0 x + b + sum_i w_i (alpha_i / r_i) B_i A_i x (see lora_linear.h).
#include "lora/lora_linear.h"

#include "autograd/ops.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/matmul.h"
#include "tensor/reduce.h"

namespace ld::lora {

namespace {

struct Term {
  Var A, B;  // (r, in), (out, r)
  float s;   // w (alpha / r)
};

// What the backward of fused_lora_linear needs from its forward.
struct FusedLoRASaved {
  int64_t M, in, out;         // X is (M, in), Y is (M, out)
  size_t first;               // A_0, B_0, A_1, B_1, ... are self.inputs[first], [first + 1], ...
  Tensor W;                   // W0 + sum_i s_i B_i A_i (out, in), as the forward built it
  std::vector<float> scales;  // s_i
  bool has_bias;              // b is self.inputs[2]
};

void fused_lora_linear_backward(ag::Node& self, const FusedLoRASaved& saved);

// Fig. 1 as one op, for x (..., in) read as X (M, in), s_i = w_i alpha_i / r_i:
//   W   = W0 + [s_1 B_1 | s_2 B_2 | ...] [A_1; A_2; ...]   (out, in): the adapters merged on the fly
//   Y   = X W^T + 1 b^T                               = X W0^T + b + sum_i s_i (X A_i^T) B_i^T
// Its backward is fused_lora_linear_backward, right below.
// The adapters enter as ONE product of their concatenated ranks, each scale folded into its B:
// exactly the product an exact `lora merge --out-lora` file holds (lora/adapter_merge.h, scale 1),
// so the merged file and the adapters applied together give the same W bit for bit.
// Building W costs out*in*r per adapter, nothing next to the M*out*in GEMM, and leaves the
// forward exactly as costly as the base layer's; the composed form (two ag::linear, a scale and
// an add per adapter) reads and writes extra (M, out) and (M, in) tensors. `loradiff bench lora`
// measured the difference (docs/lora.md, claim C2).
Var fused_lora_linear(const Var& x, const Var& w, const Var& b, const std::vector<Term>& terms) {
  const int64_t in = w.value().size(1), out = w.value().size(0), M = x.value().numel() / in;
  Tensor W = w.value().clone();
  std::vector<Tensor> As, sBs;
  for (const Term& t : terms) {
    As.push_back(t.A.value());
    sBs.push_back(mul_scalar(t.B.value(), t.s));
  }
  gemm(sBs.size() == 1 ? sBs[0] : concat(sBs, 1), As.size() == 1 ? As[0] : concat(As, 0), W, 1.0f, 1.0f);
  const Tensor X = x.value().reshape({M, in});
  Tensor Y = Tensor::empty({M, out});
  gemm_bias(X, W.transpose(0, 1), b.defined() ? b.value() : Tensor(), Y);  // no bias: a plain product
  std::vector<float> scales;
  std::vector<Var> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  const size_t first = inputs.size();  // A_0, B_0, A_1, B_1, ... follow
  for (const Term& t : terms) {
    scales.push_back(t.s);
    inputs.push_back(t.A);
    inputs.push_back(t.B);
  }
  Shape ys = x.value().shape();
  ys.back() = out;
  return ag::make_node(Y.view(ys), "lora_linear", inputs,
                       [saved = FusedLoRASaved{M, in, out, first, W, std::move(scales), b.defined()}](
                           ag::Node& self) { fused_lora_linear_backward(self, saved); });
}

// The backward of fused_lora_linear, with dY the output's gradient as (M, out) and
// T_i = X A_i^T, G_i = dY B_i (both (M, r_i)):
//   dX   = dY W                                       = dY W0 + sum_i s_i G_i A_i      (M, in)
//   dA_i = s_i G_i^T X                                = s_i B_i^T dY^T X               (r_i, in)
//   dB_i = s_i dY^T T_i                               = s_i dY^T X A_i^T               (out, r_i)
//   dW0  = dY^T X, db = sum of the rows of dY         (only when W0 / b train, i.e. not in LoRA)
// Each is computed only for an input that requires a gradient: with W0 frozen there is no
// (out, in) dW GEMM, which is where a LoRA step saves time (claim C2).
void fused_lora_linear_backward(ag::Node& self, const FusedLoRASaved& saved) {
  const auto& [M, in, out, first, W, scales, has_bias] = saved;
  ag::Node &x = *self.inputs[0], &w = *self.inputs[1];
  const Tensor dY = self.grad.reshape({M, out});
  const Tensor Xs = x.value.reshape({M, in});
  if (x.requires_grad) {
    Tensor dX = Tensor::empty({M, in});
    gemm(dY, W, dX);
    x.accumulate(dX.view(x.value.shape()));
  }
  for (size_t i = 0; i < scales.size(); ++i) {
    ag::Node &A = *self.inputs[first + 2 * i], &B = *self.inputs[first + 2 * i + 1];
    const int64_t r = A.value.size(0);
    if (A.requires_grad) {
      Tensor G = Tensor::empty({M, r}), dA = Tensor::empty({r, in});
      gemm(dY, B.value, G);
      gemm(G.transpose(0, 1), Xs, dA, scales[i], 0.0f);
      A.accumulate(dA);
    }
    if (B.requires_grad) {
      Tensor T = Tensor::empty({M, r}), dB = Tensor::empty({out, r});
      gemm(Xs, A.value.transpose(0, 1), T);
      gemm(dY.transpose(0, 1), T, dB, scales[i], 0.0f);
      B.accumulate(dB);
    }
  }
  if (w.requires_grad) {
    Tensor dW = Tensor::empty({out, in});
    gemm(dY.transpose(0, 1), Xs, dW);
    w.accumulate(dW);
  }
  if (has_bias && self.inputs[2]->requires_grad) self.inputs[2]->accumulate(sum(dY, {0}));
}

}  // namespace

LoRALinear::LoRALinear(std::shared_ptr<nn::Linear> base)
    : LoRALayer(base, base->weight, base->bias), in_features(base->in_features) {}

// A = Linear(in -> r) and B = Linear(r -> out), no biases: their weights are (r, in) and (out, r).
// Linear's init is PyTorch's kaiming_uniform_(a = sqrt(5)), the init of A in Hu et al.'s code.
std::pair<std::shared_ptr<nn::Module>, std::shared_ptr<nn::Module>> LoRALinear::make_pair(int64_t rank,
                                                                                          Generator& gen) {
  auto A = nn::make<nn::Linear>(in_features, rank, false, gen);
  auto B = nn::make<nn::Linear>(rank, out_features(), false, gen);
  return {A, B};
}

Var LoRALinear::forward(const Var& x) {
  if (x.dim() < 1 || x.size(-1) != in_features)
    fail("LoRALinear(", in_features, ", ", out_features(), "): input ", shape_str(x.shape()), " must end in ",
         in_features);
  // The fused op unless an adapter's dropout is active (it needs its own input per adapter).
  std::vector<Term> terms;
  bool composed = !fused;
  for (size_t i = 0; i < num_adapters() && !composed; ++i) {
    const LoRAAdapter& a = adapter(i);
    if (a.merged || a.weight == 0.0f) continue;
    if (a.dropout && a.dropout->is_training() && a.dropout->p > 0) composed = true;
    terms.push_back({a.A(), a.B(), a.scale()});
  }
  if (composed) return add_adapters(ag::linear(x, weight, bias), x);
  if (terms.empty()) return ag::linear(x, weight, bias);
  return fused_lora_linear(x, weight, bias, terms);
}

}  // namespace ld::lora
