// nn/gradcheck_module.cpp: see gradcheck_module.h.
#include "nn/gradcheck_module.h"

namespace ld::nn {

ag::GradcheckResult gradcheck_module(Module& m, const std::function<Var(const std::vector<Var>&)>& f,
                                     const std::vector<Tensor>& inputs, const ag::GradcheckOptions& opt) {
  std::vector<std::pair<std::string, Var>> params;
  for (auto& [name, p] : m.named_parameters())
    if (p.requires_grad()) params.push_back({name, p});
  std::vector<Tensor> all = inputs;
  for (auto& [_, p] : params) all.push_back(p.value().clone());
  const size_t n_in = inputs.size();
  auto fn = [&](const std::vector<Var>& vars) {
    for (size_t i = 0; i < params.size(); ++i) m.parameter(params[i].first) = vars[n_in + i];
    return f(std::vector<Var>(vars.begin(), vars.begin() + static_cast<std::ptrdiff_t>(n_in)));
  };
  ag::GradcheckResult r;
  try {
    r = ag::gradcheck(fn, all, opt);
  } catch (...) {
    for (auto& [name, p] : params) m.parameter(name) = p;
    throw;
  }
  for (auto& [name, p] : params) m.parameter(name) = p;
  return r;
}

}  // namespace ld::nn
