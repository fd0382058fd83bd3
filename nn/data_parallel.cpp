// nn/data_parallel.cpp: see data_parallel.h. The gradients travel as one flat float buffer:
// [ grad(p_0) | grad(p_1) | ... | one "has a gradient" count per parameter | extra ].
#include "nn/data_parallel.h"

#include <algorithm>
#include <cstring>

namespace ld::nn {

void broadcast_parameters(const std::vector<Var>& params, dist::Communicator& comm) {
  if (comm.size() == 1) return;
  int64_t n = 0;
  for (const Var& p : params) n += p.value().numel();
  std::vector<float> flat(static_cast<size_t>(n));
  int64_t at = 0;
  for (const Var& p : params) {
    const Tensor v = p.value().contiguous();
    std::memcpy(flat.data() + at, v.f32(), sizeof(float) * v.numel());
    at += v.numel();
  }
  comm.broadcast(flat.data(), n, "the broadcast of the parameters");
  at = 0;
  for (const Var& p : params) {
    Tensor v = Tensor::empty(p.value().shape());
    std::memcpy(v.f32(), flat.data() + at, sizeof(float) * v.numel());
    at += v.numel();
    p.set_value(v);
  }
}

void allreduce_gradients(const std::vector<Var>& params, dist::Communicator& comm,
                         std::vector<float>& extra) {
  if (comm.size() == 1) return;
  int64_t n = 0;
  for (const Var& p : params) n += p.value().numel();
  const int64_t n_params = static_cast<int64_t>(params.size());
  std::vector<float> flat(static_cast<size_t>(n + n_params) + extra.size(), 0.0f);
  int64_t at = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& g = params[i].grad();
    if (g.defined()) {
      const Tensor c = g.contiguous();
      std::memcpy(flat.data() + at, c.f32(), sizeof(float) * c.numel());
      flat[static_cast<size_t>(n) + i] = 1.0f;
    }
    at += params[i].value().numel();
  }
  std::copy(extra.begin(), extra.end(), flat.begin() + n + n_params);
  comm.allreduce_sum(flat.data(), static_cast<int64_t>(flat.size()), "the all-reduce of the gradients");
  at = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t k = params[i].value().numel();
    if (flat[static_cast<size_t>(n) + i] > 0) {  // some process has a gradient for it
      Tensor g = Tensor::empty(params[i].value().shape());
      std::memcpy(g.f32(), flat.data() + at, sizeof(float) * k);
      params[i].node()->grad = g;
    }
    at += k;
  }
  std::copy(flat.begin() + n + n_params, flat.end(), extra.begin());
}

}  // namespace ld::nn
