// `loradiff bench ops`: micro-benchmarks as JSON lines (see bench/).
#include "apps/commands.h"
#include "bench/bench.h"
#include "tensor/error.h"

namespace ld::app {

void register_bench(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("bench", "benchmarks, printed as JSON lines");
  cmd->require_subcommand(1);
  auto* ops = cmd->add_subcommand("ops", "matmul vs raw sgemm, conv2d, softmax, layer norm");
  auto reps = std::make_shared<int>(7);
  ops->add_option("--reps", *reps, "repetitions per measurement (median reported)")->check(CLI::Range(1, 1000));
  ops->callback([&run, reps] { run = [reps] { return bench::run_ops(*reps); }; });
}

}  // namespace ld::app
