// autograd/profile.cpp: the op-by-op profile of autograd/profile.h.
#include "autograd/profile.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

namespace ld::ag::profile {

namespace {
using Clock = std::chrono::steady_clock;
bool g_on = false;
Clock::time_point g_last;
std::map<std::pair<std::string, std::string>, Row> g_rows;

void add(const char* op, const char* phase, double ms, double flops) {
  Row& r = g_rows[{op, phase}];
  r.op = op;
  r.phase = phase;
  r.calls += 1;
  r.ms += ms;
  r.gflop += flops * 1e-9;
}
}  // namespace

void start() {
  g_rows.clear();
  g_on = true;
  g_last = Clock::now();
}

std::vector<Row> stop() {
  g_on = false;
  std::vector<Row> rows;
  for (auto& [key, r] : g_rows) rows.push_back(r);
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.ms > b.ms; });
  return rows;
}

bool enabled() { return g_on; }

void mark() { g_last = Clock::now(); }

double forward_flops(const char* op, const Tensor& out, const std::vector<const Tensor*>& in) {
  if (in.size() < 2 || !in[0] || !in[1] || !in[1]->defined() || in[1]->dim() < 2) return 0;
  const double outputs = static_cast<double>(out.numel());
  const Tensor& w = *in[1];
  // linear / linear_gelu / lora_linear: W (out, in);  matmul: B (..., K, N) with K = A's last size;
  // conv2d: W (Cout, Cin/groups, kh, kw), each output a dot product of Cin/groups * kh * kw
  if (!std::strcmp(op, "linear") || !std::strcmp(op, "linear_gelu") || !std::strcmp(op, "lora_linear"))
    return 2 * outputs * w.size(1);
  // feed_forward: x (.., in), W1 (hidden, in), W2 (out, hidden): two products per row
  if (!std::strcmp(op, "feed_forward") && in.size() >= 3 && in[2])
    return 2 * (outputs / static_cast<double>(in[2]->size(0))) *
           static_cast<double>(w.numel() + in[2]->numel());
  if (!std::strcmp(op, "matmul")) return 2 * outputs * static_cast<double>(in[0]->size(in[0]->dim() - 1));
  // attention: q (B, Lq, W), k (B, Lk, W): S = Q K^T and O = P V, each 2 * B * Lq * Lk * W (the
  // backward's count, 2 x this, is 4/5 of its five products: a slight underestimate of its rate)
  if (!std::strcmp(op, "attention")) return 4 * outputs * static_cast<double>(w.size(1));
  if (!std::strcmp(op, "conv2d") || !std::strcmp(op, "group_norm_silu_conv2d") ||
      !std::strcmp(op, "upsample_nearest2x_conv2d"))
    return 2 * outputs * static_cast<double>(w.numel() / w.size(0));
  return 0;
}

void record_forward(const char* op, const Tensor& out, const std::vector<const Tensor*>& inputs) {
  const auto now = Clock::now();
  add(op, "forward", std::chrono::duration<double, std::milli>(now - g_last).count(),
      forward_flops(op, out, inputs));
  g_last = Clock::now();  // the bookkeeping above is not the next op's time
}

void record_backward(const char* op, double ms, double flops) {
  add(op, "backward", ms, flops);
  g_last = Clock::now();
}

}  // namespace ld::ag::profile
