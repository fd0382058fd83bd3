// diffusion/text_encoder.h: the caption encoder, trained jointly with the UNet.
// It turns token ids y into the context that conditions eps_theta(x_t, t, y), Eq. (2):
//   h = tok_emb[ids] + pos_emb[0..15]                                  (B, 16, D)
//   per layer (pre-LayerNorm transformer):  h = h + attn(ln1(h), mask)
//                                           h = h + ff(ln2(h))
//   context = ln_final(h)                                              (B, 16, D)
// The mask hides <pad> keys; every caption starts with <bos>, so no row is empty.
#pragma once
#include "diffusion/config.h"
#include "diffusion/feed_forward.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/layer_norm.h"
#include "nn/sequential.h"

namespace ld::diffusion {

class TransformerLayer : public nn::Module {
 public:
  TransformerLayer(int64_t dim, int64_t heads, int64_t ff_dim, Generator& gen);
  std::string type_name() const override { return "TransformerLayer"; }
  ag::Var forward(const ag::Var& h, const Tensor& key_keep);

  std::shared_ptr<nn::LayerNorm> ln1, ln2;
  std::shared_ptr<nn::MultiHeadAttention> attn;
  std::shared_ptr<FeedForward> ff;
};

class TextEncoder : public nn::Module {
 public:
  TextEncoder(const ModelConfig& cfg, Generator& gen);
  std::string type_name() const override { return "TextEncoder"; }
  // ids I32 (B, max_tokens) -> context (B, max_tokens, text_dim)
  ag::Var forward(const Tensor& ids);

  std::shared_ptr<nn::Embedding> tok_emb, pos_emb;
  std::vector<std::shared_ptr<TransformerLayer>> layers;
  std::shared_ptr<nn::LayerNorm> ln_final;

  // Words added after training (textual inversion, `lora train --new-token`): rows V, V+1, ... of the
  // token table, kept as their own child `new_tokens` (an (n, D) Embedding, parameter
  // `text.new_tokens.weight`) beside tok_emb (V, D), so that training them leaves every other row
  // untouched and the base's own parameters (and weights hash) unchanged. The forward looks ids up in
  // concat(tok_emb, new_tokens). Returns the first new id.
  int64_t add_token_rows(const Tensor& rows);
  int64_t num_new_tokens() const { return new_tokens ? new_tokens->num_embeddings : 0; }
  // Fold the new rows into tok_emb, a plain (V + n, D) table (a merged checkpoint saves that).
  void bake_new_tokens();
  std::shared_ptr<nn::Embedding> new_tokens;  // null when no word was added

 private:
  std::shared_ptr<nn::Sequential> layers_holder_;
};

// key_keep (B, L) F32: 1 where ids != <pad> (0), else 0.
Tensor key_padding_keep(const Tensor& ids);

}  // namespace ld::diffusion
