// nn/sequential.cpp: see sequential.h.
#include "nn/sequential.h"

namespace ld::nn {

Var Sequential::forward(const Var& x) {
  Var h = x;
  for (const auto& m : layers_) h = m->forward(h);
  return h;
}

Sequential& Sequential::push_back(std::shared_ptr<Module> m) {
  if (!m) fail("Sequential: cannot append a null module");
  layers_.push_back(std::move(m));
  register_module(std::to_string(layers_.size() - 1), layers_.back());
  return *this;
}

}  // namespace ld::nn
