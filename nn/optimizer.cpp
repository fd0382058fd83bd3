// nn/optimizer.cpp: the bookkeeping shared by every optimizer (see optimizer.h).
#include "nn/optimizer.h"

#include <set>

#include "tensor/excerpt.h"

namespace ld::nn {

Optimizer::Optimizer(NamedParameters params, float learning_rate) : lr(learning_rate) {
  std::set<std::string> seen;
  for (auto& [name, p] : params) {
    if (!p.defined()) fail("optimizer: parameter '", name, "' is undefined");
    if (!seen.insert(name).second) fail("optimizer: parameter '", name, "' is given twice");
    if (p.value().dtype() != DType::F32 || !p.value().is_contiguous())
      fail("optimizer: parameter '", name, "' must be a contiguous F32 tensor");
    slots_.push_back({name, p, 0, {}});
  }
}

void Optimizer::step() {
  for (Slot& s : slots_) {
    const Tensor& g = s.param.grad();
    if (!g.defined()) continue;
    const Tensor& p = s.param.value();
    if (!p.is_contiguous() || g.shape() != p.shape())
      fail(type_name(), ": parameter '", s.name, "' ", shape_str(p.shape()), " and its gradient ",
           shape_str(g.shape()), " do not agree");
    if (s.state.empty())
      for (const std::string& n : state_names()) s.state[n] = Tensor::zeros(p.shape());
    Tensor gc = g.contiguous();
    ++s.step;
    update(s, p.f32(), gc.f32(), p.numel());
  }
  ++steps_;
}

void Optimizer::zero_grad() {
  for (Slot& s : slots_) s.param.zero_grad();
}

StateDict Optimizer::state_dict() const {
  StateDict dict;
  dict["step"] = Tensor::from_ints({static_cast<int32_t>(steps_)}, {1});
  for (const Slot& s : slots_) {
    if (s.step == 0) continue;
    dict[s.name + ".step"] = Tensor::from_ints({static_cast<int32_t>(s.step)}, {1});
    for (const auto& [k, t] : s.state) dict[s.name + "." + k] = t.clone();
  }
  return dict;
}

void Optimizer::load_state_dict(const StateDict& dict) {
  std::vector<std::string> problems;
  std::set<std::string> used;
  auto step_of = [&](const std::string& key) -> int64_t {
    auto it = dict.find(key);
    if (it == dict.end()) return -1;
    used.insert(key);
    if (it->second.dtype() != DType::I32 || it->second.numel() != 1 || it->second.to_ints()[0] < 0) {
      problems.push_back(key + ": must be one non-negative I32");
      return -1;
    }
    return it->second.to_ints()[0];
  };
  const int64_t steps = step_of("step");
  if (steps < 0 && !dict.count("step")) problems.push_back("missing: step");
  std::vector<std::pair<Slot*, int64_t>> slot_steps;
  for (Slot& s : slots_) {
    const int64_t n = step_of(s.name + ".step");
    if (n <= 0) continue;  // never updated: no state
    slot_steps.push_back({&s, n});
    for (const std::string& k : state_names()) {
      const std::string key = s.name + "." + k;
      auto it = dict.find(key);
      if (it == dict.end()) {
        problems.push_back("missing: " + key);
        continue;
      }
      used.insert(key);
      if (it->second.dtype() != DType::F32 || it->second.shape() != s.param.shape())
        problems.push_back(str_cat("wrong shape: ", key, " is ", dtype_name(it->second.dtype()),
                                   shape_str(it->second.shape()), ", the parameter is F32",
                                   shape_str(s.param.shape())));
    }
  }
  for (const auto& [key, _] : dict)
    if (!used.count(key)) problems.push_back("unexpected: " + key);
  if (!problems.empty())
    fail(type_name(),
         ".load_state_dict: the optimizer state does not match its parameters; nothing was loaded: ",
         one_line_list(problems));
  steps_ = steps;
  for (Slot& s : slots_) {
    s.step = 0;
    s.state.clear();
  }
  for (auto& [s, n] : slot_steps) {
    s->step = n;
    for (const std::string& k : state_names()) s->state[k] = dict.at(s->name + "." + k).contiguous().clone();
  }
}

}  // namespace ld::nn
