// Tests of new words in an adapter (`lora train --new-token`, textual inversion inside the adapter):
// the word joins the vocabulary and its row the text encoder's token table (a parameter of its own, so
// no other row can train); the adapter file stores word and row; loading adds them; at weight 0 the
// output is the base's bit for bit; a prompt without the word does not see the row; a base without the
// word still warns about it as an unknown word.
#include <doctest/doctest.h>

#include <cmath>

#include "data/tokenizer.h"
#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "lora/trainer.h"
#include "tensor/elementwise.h"
#include "tests/lora/lora_fixture.h"
#include "tests/temp_dir.h"

using namespace ld;
using namespace ld::lora;

namespace {

using ld::test::TempDir;
using ld::test::tiny_model;

Tensor eps_of(diffusion::TextToImageModel& m, const data::Vocabulary& vocab, const std::string& prompt) {
  Generator gen(3);
  ag::NoGrad ng;
  m.eval();
  const Tensor ids = data::tokenize_batch(vocab, {prompt, prompt}).ids;
  return m.forward(Var(rand_normal({2, 1, 28, 28}, gen)), Tensor::from_ints({3, 500}, {2}), ids).value();
}

std::vector<float> bits(const Tensor& t) { return t.contiguous().to_vector(); }

// An adapter adding "sks" (row moved off its <unk> start) with random B on the UNet and text attention.
void write_sks_adapter(const std::string& path) {
  auto model = tiny_model();
  data::Vocabulary vocab = data::Vocabulary::builtin();
  add_new_token(*model, vocab, "sks", "nine");
  LoRAConfig c;
  c.rank = 2;
  c.targets = default_targets();
  for (const auto& t : text_encoder_targets()) c.targets.push_back(t);
  attach_lora(*model, c, "x");
  ld::test::randomize_up(*model, 4);
  Generator gen(5);
  Adapter a = adapter_from_model(*model, "x");
  a.targets = c.targets;
  a.new_words = {"sks"};
  a.new_rows = add(model->text->new_tokens->weight.value(), rand_normal({1, model->config.text_dim}, gen));
  save_adapter(path, a);
}

}  // namespace

TEST_CASE("add_new_token: one more word and row, a copy of the init word's; bad words refused") {
  auto model = tiny_model();
  data::Vocabulary vocab = data::Vocabulary::builtin();
  const int64_t V = vocab.size();
  add_new_token(*model, vocab, "sks", "nine");
  CHECK(vocab.size() == V + 1);
  CHECK(vocab.id("sks") == V);
  CHECK(model->text->num_new_tokens() == 1);
  CHECK(bits(model->text->new_tokens->weight.value()) ==
        bits(model->text->tok_emb->weight.value().narrow(0, vocab.id("nine"), 1)));
  // the base's own parameters (and so its weights hash) are unchanged: the row is an adapter parameter
  CHECK(base_state_dict(*model).count("text.new_tokens.weight") == 0);
  CHECK(base_state_dict(*model).at("text.tok_emb.weight").size(0) == V);
  // "a handwritten digit sks" now has no unknown word
  CHECK(data::tokenize(vocab, "a handwritten digit sks").ok());
  CHECK_THROWS_WITH_AS(add_new_token(*model, vocab, "seven", ""), doctest::Contains("already a word"), Error);
  CHECK_THROWS_WITH_AS(add_new_token(*model, vocab, "two words", ""),
                       doctest::Contains("one lower-case word"), Error);
  CHECK_THROWS_WITH_AS(add_new_token(*model, vocab, "zzz", "purple"),
                       doctest::Contains("--init-token: 'purple'"), Error);
}

TEST_CASE("an adapter with a new word: stored, loaded, off at weight 0, invisible to other prompts") {
  TempDir tmp("test-new-token");
  const std::string f = tmp / "sks.safetensors";
  write_sks_adapter(f);
  const Adapter a = read_adapter(f);
  REQUIRE(a.new_words == std::vector<std::string>{"sks"});
  CHECK(a.new_rows.shape() == Shape{1, diffusion::load_config("mnist-t2i-tiny").text_dim});
  CHECK(!a.extra.count("new_tokens"));

  const std::string with = "a handwritten digit sks", without = "a handwritten digit seven";
  auto base = tiny_model();
  const data::Vocabulary& bv = data::Vocabulary::builtin();
  // a base without the word warns about it, as about any unknown word
  const data::TokenBatch tb = data::tokenize_batch(bv, {with});
  REQUIRE(tb.warnings.size() == 1);
  CHECK(tb.warnings[0].find("'sks'") != std::string::npos);

  SUBCASE("loading adds the word; the prompt then has no unknown word") {
    auto m = tiny_model();
    data::Vocabulary v = bv;
    const auto reports = load_lora_specs(*m, {f + ":0.8"}, &v);
    CHECK(reports[0].new_words == std::vector<std::string>{"sks"});
    CHECK(v.contains("sks"));
    CHECK(data::tokenize_batch(v, {with}).warnings.empty());
    CHECK(bits(eps_of(*m, v, with)) != bits(eps_of(*base, bv, with)));
    // a second adapter adding the same word is refused
    CHECK_THROWS_WITH_AS(load_lora_specs(*m, {f + ":0.5"}, &v), doctest::Contains("already has"), Error);
  }
  SUBCASE("at weight 0 the output is the base's bit for bit, the new-word prompt included") {
    auto m = tiny_model();
    data::Vocabulary v = bv;
    load_lora_specs(*m, {f + ":0"}, &v);
    CHECK(!v.contains("sks"));
    CHECK(bits(eps_of(*m, v, with)) == bits(eps_of(*base, bv, with)));
    CHECK(bits(eps_of(*m, v, without)) == bits(eps_of(*base, bv, without)));
  }
  SUBCASE("a prompt without the word does not depend on the word's row") {
    auto m = tiny_model();
    data::Vocabulary v = bv;
    load_lora_specs(*m, {f + ":0.8"}, &v);
    const Tensor before = eps_of(*m, v, without), with_before = eps_of(*m, v, with);
    Generator gen(11);
    m->text->new_tokens->weight.set_value(rand_normal(m->text->new_tokens->weight.shape(), gen));
    CHECK(bits(eps_of(*m, v, without)) == bits(before));
    CHECK(bits(eps_of(*m, v, with)) != bits(with_before));  // ... while the new-word prompt does
  }
}
