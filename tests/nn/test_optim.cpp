// Tests of the optimizers against PyTorch (tests/fixtures/optim_pytorch.json, written by
// tools/make_adamw_fixture.py), and of their state export / resume.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "nn/adam.h"
#include "nn/sgd.h"
#include "tensor/file_io.h"

using namespace ld;
using namespace ld::nn;
using json = nlohmann::json;

namespace {

const json& fixture() {
  static const json j = json::parse(read_file(LORADIFF_SOURCE_DIR "/tests/fixtures/optim_pytorch.json"));
  return j;
}

Tensor tensor_of(const json& values, const json& shape) {
  return Tensor::from_vector(values.get<std::vector<float>>(), shape.get<Shape>());
}

struct Problem {
  Var w, b, c;
  Tensor x, y;
  NamedParameters named() const { return {{"w", w}, {"b", b}, {"c", c}}; }
};

Problem make_problem() {
  const json& f = fixture();
  Problem p;
  p.x = tensor_of(f["x"], f["shapes"]["x"]);
  p.y = tensor_of(f["y"], f["shapes"]["y"]);
  for (auto [var, key] : {std::pair{&p.w, "w"}, {&p.b, "b"}, {&p.c, "c"}})
    *var = Var(tensor_of(f["init"][key], f["shapes"][key]), true);
  return p;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, const Problem& p) {
  const json& o = fixture()["optimizers"][kind];
  const float lr = o["lr"].get<float>();
  if (kind == "sgd")
    return std::make_unique<SGD>(p.named(), lr, o["momentum"].get<float>(), o["weight_decay"].get<float>());
  AdamOptions opt;
  opt.beta1 = o["betas"][0], opt.beta2 = o["betas"][1], opt.eps = o["eps"],
  opt.weight_decay = o["weight_decay"];
  if (kind == "adam") return std::make_unique<Adam>(p.named(), lr, opt);
  if (kind == "adamw_defaults") return std::make_unique<AdamW>(p.named());  // lr 1e-3, wd 0.01: the defaults
  return std::make_unique<AdamW>(p.named(), lr, opt);
}

// The loss of the fixture, with our autograd: mse(x W^T + b, y) (+ sum(c^2) on even steps).
void backward_of_step(const Problem& p, int step) {
  Var loss = ag::mse_loss(ag::linear(Var(p.x), p.w, p.b), Var(p.y));
  if (step % 2 == 0) loss = loss + ag::sum(p.c * p.c);
  loss.backward();
}

void check_close(const Tensor& got, const json& want, double tol, const std::string& what) {
  std::vector<float> g = got.to_vector(), w = want.get<std::vector<float>>();
  REQUIRE(g.size() == w.size());
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::fabs(double(g[i]) - w[i]));
  CHECK_MESSAGE(worst <= tol, what, ": max |ours - pytorch| = ", worst);
}

const char* kKinds[] = {"adamw", "adamw_defaults", "adam", "sgd"};

}  // namespace

TEST_CASE("given PyTorch's gradients, every update matches PyTorch's to 1e-6") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    Problem p = make_problem();
    auto opt = make_optimizer(kind, p);
    int step = 0;
    for (const json& s : fixture()["optimizers"][kind]["steps"]) {
      opt->zero_grad();
      for (auto [var, key] : {std::pair{&p.w, "w"}, {&p.b, "b"}, {&p.c, "c"}})
        if (s["grads"].contains(key))
          var->node()->accumulate(tensor_of(s["grads"][key], fixture()["shapes"][key]));
      opt->step();
      for (auto [var, key] : {std::pair{&p.w, "w"}, {&p.b, "b"}, {&p.c, "c"}})
        check_close(var->value(), s["params_after"][key], 1e-6, str_cat(kind, " step ", step, " ", key));
      ++step;
    }
    // the exported state is PyTorch's state under our names
    StateDict sd = opt->state_dict();
    CHECK(sd.at("step").to_ints()[0] == 6);
    for (auto& [key, value] : fixture()["optimizers"][kind]["final_state"].items()) {
      CAPTURE(key);
      REQUIRE(sd.count(key));
      if (value.is_number()) {
        CHECK(sd.at(key).to_ints()[0] == value.get<int>());
      } else {
        check_close(sd.at(key), value, 1e-6, key);
      }
    }
    if (std::string(kind) != "sgd")
      CHECK(sd.at("c.step").to_ints()[0] == 3);  // c had a gradient on 3 of 6 steps
  }
}

TEST_CASE("with our own autograd computing the gradients, AdamW still tracks PyTorch") {
  Problem p = make_problem();
  auto opt = make_optimizer("adamw", p);
  int step = 0;
  for (const json& s : fixture()["optimizers"]["adamw"]["steps"]) {
    opt->zero_grad();
    backward_of_step(p, step);
    CHECK_FALSE((step % 2 == 1 && p.c.grad().defined()));
    opt->step();
    check_close(p.w.value(), s["params_after"]["w"], 1e-5, str_cat("step ", step, " w"));
    check_close(p.c.value(), s["params_after"]["c"], 1e-5, str_cat("step ", step, " c"));
    ++step;
  }
}

TEST_CASE("resuming from an exported state continues exactly as the uninterrupted run") {
  for (const char* kind : kKinds) {
    CAPTURE(kind);
    Problem full = make_problem();
    auto opt_full = make_optimizer(kind, full);
    Problem first = make_problem();
    auto opt_first = make_optimizer(kind, first);
    for (int step = 0; step < 6; ++step) {
      opt_full->zero_grad();
      backward_of_step(full, step);
      opt_full->step();
      if (step < 3) {
        opt_first->zero_grad();
        backward_of_step(first, step);
        opt_first->step();
      }
    }
    // a new process: fresh Vars holding the saved weights, a fresh optimizer given the saved state
    Problem resumed = make_problem();
    resumed.w.set_value(first.w.value().clone());
    resumed.b.set_value(first.b.value().clone());
    resumed.c.set_value(first.c.value().clone());
    auto opt_resumed = make_optimizer(kind, resumed);
    opt_resumed->load_state_dict(opt_first->state_dict());
    CHECK(opt_resumed->steps() == 3);
    for (int step = 3; step < 6; ++step) {
      opt_resumed->zero_grad();
      backward_of_step(resumed, step);
      opt_resumed->step();
    }
    CHECK(resumed.w.value().to_vector() == full.w.value().to_vector());
    CHECK(resumed.c.value().to_vector() == full.c.value().to_vector());
  }
}

TEST_CASE("load_state_dict rejects a state that does not fit, listing every problem, and changes nothing") {
  Problem p = make_problem();
  AdamW opt(p.named());
  backward_of_step(p, 0);
  opt.step();
  StateDict sd = opt.state_dict();
  sd["w.exp_avg"] = Tensor::zeros({4, 3});
  sd.erase("b.exp_avg_sq");
  sd["z.exp_avg"] = Tensor::zeros({1});
  AdamW other(p.named());
  try {
    other.load_state_dict(sd);
    FAIL("should throw");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK(m.find("wrong shape: w.exp_avg") != std::string::npos);
    CHECK(m.find("missing: b.exp_avg_sq") != std::string::npos);
    CHECK(m.find("unexpected: z.exp_avg") != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
  }
  CHECK(other.steps() == 0);
}

TEST_CASE("a broken update is caught: Adam without bias correction differs from PyTorch") {
  // Guards the test itself: a plausible bug (no 1/(1 - b1^t)) must exceed the tolerance.
  Problem p = make_problem();
  const json& s = fixture()["optimizers"]["adamw"]["steps"][0];
  std::vector<float> w = p.w.value().to_vector(), g = s["grads"]["w"].get<std::vector<float>>();
  const std::vector<float> want = s["params_after"]["w"].get<std::vector<float>>();
  double worst = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const float m = 0.1f * g[i], v = 0.001f * g[i] * g[i];
    const float p_bad = w[i] * (1 - 0.05f * 0.1f) - 0.05f * m / (std::sqrt(v) + 1e-8f);
    worst = std::max(worst, std::fabs(double(p_bad) - want[i]));
  }
  CHECK(worst > 1e-3);
}
