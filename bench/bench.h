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
void emit(const nlohmann::json& j);  // one line on stdout, flushed

int run_ops(int reps);  // `loradiff bench ops`

}  // namespace ld::bench
