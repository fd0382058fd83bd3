// bench/bench.h: benchmarks printed as JSON lines (one object per measurement).
// Timings are medians over repetitions after a warm-up; the machine is shared, so
// compare ratios measured in the same run rather than absolute numbers.
#pragma once
#include <chrono>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

namespace ld::bench {

// Median wall time in milliseconds of `reps` runs of f, after `warmup` runs.
double median_ms(const std::function<void()>& f, int reps, int warmup = 1);
// Medians of a and b measured alternately (a, b, a, b, ...), so that a change in
// machine load affects both sides alike. Returns {median_a, median_b}.
std::pair<double, double> paired_median_ms(const std::function<void()>& a, const std::function<void()>& b,
                                           int reps);
void emit(const nlohmann::json& j);  // one line on stdout, flushed

int run_ops(int reps);  // `loradiff bench ops`
// `loradiff bench winograd`: F(2x2, 3x3) vs F(4x4, 3x3) at the mnist-t2i 3x3 shapes (bench/winograd.cpp)
int run_winograd(int reps);
// `loradiff bench train` / `bench sample`; with `profile`, also one profiled step / sampling run:
// time per op kind and phase, its share, GFLOP/s of the GEMM-shaped ops (autograd/profile.h), and
// the machine's GEMM rate beside it
int run_train(const std::string& config, int64_t batch, int reps, bool profile = false);
int run_sample(const std::string& config, int64_t batch, int64_t steps, float guidance, int reps,
               bool profile = false);
// `loradiff bench lora`: a LoRA step vs a full fine-tuning step, alternately (claim C2)
int run_lora(const std::string& config, int64_t batch, int reps, int64_t rank, bool composed);

}  // namespace ld::bench
