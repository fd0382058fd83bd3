// autograd/profile.h: where the time of a step goes, op by op (`loradiff bench train --profile`,
// `bench sample --profile`; docs/performance.md walks through one).
//
// While a profile runs, the autograd core reports two things:
//   forward   every op ends by recording its result (make_node), so the time between two records is
//             the forward time of the op recorded second (tensor work outside any op, e.g. drawing
//             noise, counts toward the op that follows it);
//   backward  each node's backward closure is timed on its own (the gradient accumulation it does
//             included).
// For the GEMM-shaped ops (linear, lora_linear, matmul, conv2d) the multiply-adds are counted from
// the shapes at direct-convolution count (2 * outputs * reduction length; the backward does one such
// product per input that needs a gradient), so each row also shows GFLOP/s: how close that op runs
// to the machine's GEMM rate. Off by default: then the cost is one branch per op.
#pragma once

#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ld::ag::profile {

struct Row {
  std::string op, phase;  // phase: "forward" or "backward"
  int64_t calls = 0;
  double ms = 0;
  double gflop = 0;  // 0 for ops that are not GEMM-shaped
};

void start();             // reset and enable
std::vector<Row> stop();  // disable; rows by time, largest first
bool enabled();

// Multiply-adds x 2 of a GEMM-shaped op's forward, from its output and inputs; 0 for other ops.
double forward_flops(const char* op, const Tensor& out, const std::vector<const Tensor*>& inputs);

// Hooks for autograd/var.cpp.
void record_forward(const char* op, const Tensor& out, const std::vector<const Tensor*>& inputs);
void record_backward(const char* op, double ms, double flops);
void mark();  // "now" becomes the start of the next op's forward time (e.g. after a backward)

}  // namespace ld::ag::profile
