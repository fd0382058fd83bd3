// Tests of nn/module: names, replacement, modes, freezing, state dict.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/sequential.h"

using namespace ld;
using namespace ld::nn;

namespace {

// A two-level tree shaped like a piece of the reference model:
//   block.attn.{to_q,to_k,to_v,to_out}, block.ff.{0,2}, block.head
struct Block : Module {
  std::shared_ptr<MultiHeadAttention> attn;
  std::shared_ptr<Sequential> ff;
  std::shared_ptr<Linear> head;
  explicit Block(Generator& gen) {
    attn = make<MultiHeadAttention>(8, 2, 4, false, true, gen);
    ff = make<Sequential>();
    ff->push_back(make<Linear>(8, 16, true, gen))
        .push_back(make<GELU>())
        .push_back(make<Linear>(16, 8, true, gen));
    head = make<Linear>(8, 3, false, gen);
    register_module("attn", attn);
    register_module("ff", ff);
    register_module("head", head);
  }
  std::string type_name() const override { return "Block"; }
};

struct Root : Module {
  std::shared_ptr<Block> block;
  explicit Root(Generator& gen) {
    block = make<Block>(gen);
    register_module("block", block);
  }
  std::string type_name() const override { return "Root"; }
};

// A stand-in for a LoRA wrapper: y = inner(x) * 2.
struct Doubler : Module {
  std::shared_ptr<Module> inner;
  explicit Doubler(std::shared_ptr<Module> m) : inner(std::move(m)) { register_module("inner", inner); }
  std::string type_name() const override { return "Doubler"; }
  Var forward(const Var& x) override { return ag::scale(inner->forward(x), 2.0f); }
};

std::vector<std::string> names(const Module& m) {
  std::vector<std::string> out;
  for (auto& [n, _] : m.named_parameters()) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("dotted parameter names follow the module tree, in registration order") {
  Generator gen(1);
  Root root(gen);
  std::vector<std::string> want{"block.attn.to_q.weight", "block.attn.to_k.weight",
                                "block.attn.to_v.weight", "block.attn.to_out.weight",
                                "block.attn.to_out.bias", "block.ff.0.weight",
                                "block.ff.0.bias",        "block.ff.2.weight",
                                "block.ff.2.bias",        "block.head.weight"};
  CHECK(names(root) == want);
  CHECK(root.parameter("block.attn.to_k.weight").shape() == Shape{8, 4});  // cross-attention: context dim 4
  CHECK(root.num_parameters() == 64 + 32 + 32 + 64 + 8 + 128 + 16 + 128 + 8 + 24);
  CHECK_THROWS_WITH_AS(root.parameter("block.nope"), doctest::Contains("block.nope"), Error);
  auto mods = root.named_modules();
  REQUIRE(mods.size() == 11);  // block, attn, 4 projections, ff and its 3 children, head
  CHECK(mods[0].first == "block");
  CHECK(mods[1].first == "block.attn");
  CHECK(mods[2].first == "block.attn.to_q");
  CHECK(root.str().find("to_out: Linear weight(8,8) bias(8)") != std::string::npos);
}

TEST_CASE("a name may be registered once and may not contain a dot") {
  struct Bad : Module {
    Var w{Tensor::zeros({2}), true};
    std::string type_name() const override { return "Bad"; }
    void twice() {
      register_parameter("w", w);
      register_parameter("w", w);
    }
    void dotted() { register_parameter("a.b", w); }
  };
  Bad b;
  CHECK_THROWS_WITH_AS(b.twice(), doctest::Contains("already registered"), Error);
  CHECK_THROWS_WITH_AS(b.dotted(), doctest::Contains("no '.'"), Error);
}

TEST_CASE("replace_module swaps a child slot by dotted name and the parent's forward uses it") {
  Generator gen(2);
  Root root(gen);
  Var x(rand_normal({1, 3, 8}, gen));
  Var c(rand_normal({1, 5, 4}, gen));
  auto& attn = *root.block->attn;
  Tensor before = attn.forward(x, c).value();

  auto old = root.replace_module("block.attn.to_out", make<Doubler>(root.get_module("block.attn.to_out")));
  CHECK(old->type_name() == "Linear");
  CHECK(attn.to_out->type_name() == "Doubler");
  Tensor after = attn.forward(x, c).value();
  for (int64_t i = 0; i < before.numel(); ++i) CHECK(after.f32()[i] == doctest::Approx(2 * before.f32()[i]));
  // the wrapper's parameters appear under its own names
  CHECK(root.parameter("block.attn.to_out.inner.weight").shape() == Shape{8, 8});
  CHECK(root.get_module_as<Linear>("block.attn.to_out.inner")->out_features == 8);

  // a slot declared with a concrete type refuses another type
  CHECK_THROWS_WITH_AS(root.replace_module("block.head", make<GELU>()),
                       doctest::Contains("cannot take a GELU"), Error);
  CHECK_THROWS_WITH_AS(root.replace_module("block.missing", make<GELU>()), doctest::Contains("block.missing"),
                       Error);
  CHECK_THROWS_AS(root.get_module_as<Linear>("block.ff.1"), Error);
}

TEST_CASE("train / eval reach every descendant, also a replaced one") {
  Generator gen(3);
  Root root(gen);
  root.eval();
  for (auto& [_, m] : root.named_modules()) CHECK_FALSE(m->is_training());
  root.replace_module("block.ff.1", make<SiLU>());
  CHECK_FALSE(root.get_module("block.ff.1")->is_training());
  root.train();
  for (auto& [_, m] : root.named_modules()) CHECK(m->is_training());
}

TEST_CASE("requires_grad(false) freezes a sub-tree; its parameters get no gradient") {
  Generator gen(4);
  Root root(gen);
  root.block->attn->requires_grad(false);
  CHECK(root.trainable_parameters().size() == 5);  // ff (4) + head (1)
  Var x(rand_normal({2, 3, 8}, gen)), c(rand_normal({2, 5, 4}, gen));
  Var y = root.block->head->forward(root.block->ff->forward(root.block->attn->forward(x, c)));
  ag::sum(y).backward();
  CHECK_FALSE(root.parameter("block.attn.to_q.weight").grad().defined());
  CHECK(root.parameter("block.ff.0.weight").grad().defined());
  root.zero_grad();
  CHECK_FALSE(root.parameter("block.ff.0.weight").grad().defined());
}

TEST_CASE("state_dict is a snapshot; load_state_dict strict restores it") {
  Generator gen(5);
  Root a(gen), b(gen);
  StateDict sd = a.state_dict();
  CHECK(sd.size() == 10);
  a.parameter("block.head.weight").value().f32()[0] += 1.0f;  // the snapshot must not follow
  CHECK(sd["block.head.weight"].f32()[0] != a.parameter("block.head.weight").value().f32()[0]);

  Var head_w = b.parameter("block.head.weight");  // a handle held before loading
  LoadReport r = b.load_state_dict(sd);
  CHECK(r.ok());
  for (auto& [name, t] : sd) {
    std::vector<float> want = t.to_vector(), got = b.parameter(name).value().to_vector();
    CHECK(want == got);
  }
  CHECK(head_w.value().to_vector() == sd["block.head.weight"].to_vector());  // loaded in place
}

TEST_CASE("strict load lists every missing, unexpected and wrongly-shaped name and loads nothing") {
  Generator gen(6);
  Root a(gen);
  StateDict sd = a.state_dict();
  sd.erase("block.ff.0.bias");
  sd["block.extra.weight"] = Tensor::zeros({2});
  sd["block.head.weight"] = Tensor::zeros({4, 8});
  std::vector<float> q_before = a.parameter("block.attn.to_q.weight").value().to_vector();
  sd["block.attn.to_q.weight"] = Tensor::zeros({8, 8});
  try {
    a.load_state_dict(sd);
    FAIL("strict load should throw");
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK(msg.find("missing: block.ff.0.bias") != std::string::npos);
    CHECK(msg.find("unexpected: block.extra.weight") != std::string::npos);
    CHECK(msg.find("wrong shape: block.head.weight is (3,8) in the model, (4,8) in the file") !=
          std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);  // one line, whatever the number of problems
  }
  CHECK(a.parameter("block.attn.to_q.weight").value().to_vector() == q_before);

  LoadReport r = a.load_state_dict(sd, /*strict=*/false);
  CHECK(r.missing == std::vector<std::string>{"block.ff.0.bias"});
  CHECK(r.unexpected == std::vector<std::string>{"block.extra.weight"});
  REQUIRE(r.mismatched.size() == 1);
  CHECK(r.mismatched[0].name == "block.head.weight");
  CHECK(a.parameter("block.attn.to_q.weight").value().to_vector() == std::vector<float>(64, 0.0f));
}

TEST_CASE("calling the single-input forward of a module that has none fails clearly") {
  struct NoForward : Module {
    std::string type_name() const override { return "NoForward"; }
  };
  NoForward m;
  CHECK_THROWS_WITH_AS(m.forward(Var(Tensor::zeros({1}))), doctest::Contains("NoForward"), Error);
}
