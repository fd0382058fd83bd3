// diffusion/text_encoder.cpp: the caption encoder of Eq. (2): token + position embeddings,
// pre-norm transformer layers with a key-padding mask, final LayerNorm -> context.
#include "diffusion/text_encoder.h"

#include "autograd/ops.h"
#include "nn/sequential.h"
#include "tensor/index.h"

// Shapes: B = batch, T = text tokens (max_tokens, 16; L in the code), D = text width (64),
// F = feed-forward width (256), V = vocabulary size; inside the attention (nn/attention.cpp) D splits
// into h = 4 heads of d = 16.

namespace ld::diffusion {

TransformerLayer::TransformerLayer(int64_t dim, int64_t heads, int64_t ff_dim, Generator& gen)
    : ln1(nn::make<nn::LayerNorm>(dim)),
      ln2(nn::make<nn::LayerNorm>(dim)),
      attn(nn::make<nn::MultiHeadAttention>(dim, heads, 0, /*qkv_bias=*/true, /*out_bias=*/true, gen)),
      ff(nn::make<FeedForward>(dim, ff_dim, gen)) {
  register_module("ln1", ln1);
  register_module("attn", attn);
  register_module("ln2", ln2);
  register_module("ff", ff);
}

// h0 (B, T, D), key_keep (B, T) -> (B, T, D)
ag::Var TransformerLayer::forward(const ag::Var& h0, const Tensor& key_keep) {
  // (B, T, D): T queries on T keys, <pad> keys masked
  ag::Var h = h0 + attn->forward(ln1->forward(h0), ag::Var(), key_keep);
  return h + ff->forward(ln2->forward(h));  // (B, T, D) -> (B, T, F) -> (B, T, D)
}

TextEncoder::TextEncoder(const ModelConfig& cfg, Generator& gen) {
  if (cfg.vocab_size < 3) fail("TextEncoder: vocabulary of ", cfg.vocab_size, " words is too small (need >= 3)");
  tok_emb = nn::make<nn::Embedding>(cfg.vocab_size, cfg.text_dim, gen);
  pos_emb = nn::make<nn::Embedding>(cfg.max_tokens, cfg.text_dim, gen);
  layers_holder_ = nn::make<nn::Sequential>();
  for (int64_t i = 0; i < cfg.text_layers; ++i) {
    layers.push_back(nn::make<TransformerLayer>(cfg.text_dim, cfg.text_heads, cfg.text_ff_dim, gen));
    layers_holder_->push_back(layers.back());
  }
  ln_final = nn::make<nn::LayerNorm>(cfg.text_dim);
  register_module("tok_emb", tok_emb);
  register_module("pos_emb", pos_emb);
  register_module("layers", layers_holder_);
  register_module("ln_final", ln_final);
  register_module("new_tokens", new_tokens);  // null until a word is added
}

// ids (B, T) I32 -> keep (B, T) F32: 1 for a word, 0 for <pad> (id 0)
Tensor key_padding_keep(const Tensor& ids) {
  Tensor c = ids.contiguous();
  Tensor keep = Tensor::empty(c.shape());
  for (int64_t i = 0; i < c.numel(); ++i) keep.f32()[i] = c.i32()[i] != 0 ? 1.0f : 0.0f;
  return keep;
}

int64_t TextEncoder::add_token_rows(const Tensor& rows) {
  const int64_t D = tok_emb->dim;
  if (rows.dim() != 2 || rows.size(1) != D || rows.size(0) < 1)
    fail("TextEncoder: new token rows ", shape_str(rows.shape()), " must be (n >= 1, ", D, ")");
  const int64_t first = tok_emb->num_embeddings + num_new_tokens();
  Tensor table =
      new_tokens ? concat({new_tokens->weight.value(), rows.contiguous()}, 0) : rows.contiguous().clone();
  Generator unused(0);  // the rows are given
  auto e = nn::make<nn::Embedding>(table.size(0), D, unused);
  e->weight.set_value(table);
  e->weight.set_requires_grad(false);
  replace_module("new_tokens", e);
  return first;
}

void TextEncoder::bake_new_tokens() {
  if (!new_tokens) return;
  Tensor table = concat({tok_emb->weight.value(), new_tokens->weight.value()}, 0);
  Generator unused(0);
  auto e = nn::make<nn::Embedding>(table.size(0), table.size(1), unused);
  e->weight.set_value(table);
  e->weight.set_requires_grad(tok_emb->weight.requires_grad());
  replace_module("tok_emb", e);
  new_tokens = nullptr;
}

// ids (B, T) I32 -> context (B, T, D)
ag::Var TextEncoder::forward(const Tensor& ids) {
  check_dtype("TextEncoder", ids, DType::I32, "token ids");
  const int64_t L = pos_emb->weight.shape()[0];
  if (ids.dim() != 2 || ids.size(1) != L)
    fail("TextEncoder: token ids ", shape_str(ids.shape()), " must be (batch, ", L, ")");
  std::vector<int32_t> pos(L);
  for (int64_t i = 0; i < L; ++i) pos[i] = static_cast<int32_t>(i);
  // tok_emb (V, D): (B, T) -> (B, T, D); pos_emb (T, D): (T) -> (T, D), broadcast over the batch
  const ag::Var tokens = new_tokens ? ag::embedding(ids, ag::concat({tok_emb->weight, new_tokens->weight}, 0))
                                    : tok_emb->forward(ids);
  ag::Var h = tokens + pos_emb->forward(Tensor::from_ints(pos, {L}));
  Tensor keep = key_padding_keep(ids);                     // (B, T)
  for (auto& layer : layers) h = layer->forward(h, keep);  // (B, T, D)
  return ln_final->forward(h);                             // (B, T, D)
}

}  // namespace ld::diffusion
