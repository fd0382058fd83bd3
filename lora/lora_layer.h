// lora/lora_layer.h: what every LoRA-wrapped layer shares (article Eq. (LoRA), Figs. 1 and 3).
//
//   h = W0 x + sum_i w_i (alpha_i / r_i) B_i A_i x              Eq. (LoRA), several adapters at once
//
// W0 is the frozen weight of the wrapped layer, seen as a matrix (out, fan_in): a Linear's
// (out, in), or a Conv2d's (out, in*k*k). Adapter i is a pair of layers (Fig. 3): the
// down-projection A_i (r_i, fan_in), initialised Kaiming-uniform, and the up-projection
// B_i (out, r_i), initialised to zero, so a new adapter changes nothing until trained.
// w_i is the user's weight for the adapter at generation time (`--lora file:w`, Fig. 5).
//
// Names. The wrapper registers the base parameters under the wrapped layer's own names
// ("weight", "bias"), so the adapted model's state dict still has every base name, and
// the first adapter as children "lora_A" and "lora_B", so its weights are
// `<layer>.lora_A.weight` (r, in) and `<layer>.lora_B.weight` (out, r), the names of
// docs/reference-model.md. Adapters added later are "lora_A_1"/"lora_B_1", and so on.
//
// merge(i) folds an adapter into W0 (W0 += w (alpha/r) B A; the forward then skips it, so
// generation costs no more than the base model); unmerge(i) takes it out again. The
// first merge keeps a copy of W0, so unmerging the last merged adapter restores W0
// bit for bit; unmerging while others stay merged subtracts (float rounding only).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/dropout.h"
#include "nn/module.h"

namespace ld::lora {

using ag::Var;

// One low-rank pair A_i, B_i beside a frozen layer (Fig. 1).
struct LoRAAdapter {
  std::string name;  // which adapter this is (a file's stem, "train", ...): layers hold one per name
  int64_t rank = 0;
  float alpha = 0;
  float weight = 1;                            // w_i of Eq. (LoRA)
  std::shared_ptr<nn::Module> lora_A, lora_B;  // down- and up-projection (Linear or Conv2d, no bias)
  std::shared_ptr<nn::Dropout> dropout;        // on the adapter's input; null = none
  bool merged = false;
  float merged_weight = 0;  // w at the time of merging, so unmerge subtracts what merge added

  Var& A() const { return lora_A->parameter("weight"); }  // (r, in) or (r, in, k, k)
  Var& B() const { return lora_B->parameter("weight"); }  // (out, r) or (out, r, 1, 1)
  float scale() const { return weight * alpha / static_cast<float>(rank); }
};

class LoRALayer : public nn::Module {
 public:
  Var weight, bias;  // the wrapped layer's parameters (shared with it), normally frozen

  // The wrapped Linear or Conv2d; it shares weight and bias, so merged adapters show in it.
  std::shared_ptr<nn::Module> base() const { return base_; }
  int64_t out_features() const { return weight.size(0); }
  int64_t fan_in() const { return weight.value().numel() / weight.size(0); }

  // Add an adapter of rank r: A Kaiming-uniform (drawn from gen), B zero. Returns its index.
  // dropout p in [0, 1) on the adapter input. The name must be new in this layer.
  size_t add_adapter(const std::string& name, int64_t rank, float alpha, float weight, float dropout,
                     Generator& gen);
  size_t num_adapters() const { return adapters_.size(); }
  LoRAAdapter& adapter(size_t i);
  const LoRAAdapter& adapter(size_t i) const;
  // The index of the adapter called `name`, or -1.
  int64_t find_adapter(const std::string& name) const;

  // (alpha_i / r_i) B_i A_i in the shape of W0 (without w_i): the adapter's weight update.
  Tensor delta_weight(size_t i) const;
  // W0 += w_i (alpha_i / r_i) B_i A_i; the forward then skips adapter i.
  void merge(size_t i);
  // Undo merge(i): the exact saved W0 when no other adapter stays merged, else subtraction.
  void unmerge(size_t i);

 protected:
  LoRALayer(std::shared_ptr<nn::Module> base, Var weight, Var bias);
  // The A (down) and B (up) layers of a new adapter of rank r, A initialised from gen.
  virtual std::pair<std::shared_ptr<nn::Module>, std::shared_ptr<nn::Module>> make_pair(int64_t rank,
                                                                                        Generator& gen) = 0;
  // y + sum over unmerged adapters with w_i != 0 of w_i (alpha_i / r_i) B_i(A_i(dropout(x))).
  // An adapter with w_i = 0 is skipped, so weight 0 gives outputs identical to the base.
  Var add_adapters(Var y, const Var& x);

 private:
  std::shared_ptr<nn::Module> base_;
  std::vector<std::unique_ptr<LoRAAdapter>> adapters_;  // unique_ptr: registered slots must not move
  Tensor original_weight_;  // W0 before the first merge; undefined when nothing is merged
};

}  // namespace ld::lora
