// apps/commands.h: each subcommand adds itself to the CLI11 app and sets `run`
// to the action chosen on the command line.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace ld::app {

using Runner = std::function<int()>;
void register_gradcheck(CLI::App& app, Runner& run);
void register_bench(CLI::App& app, Runner& run);
void register_data(CLI::App& app, Runner& run);
void register_classifier(CLI::App& app, Runner& run);
void register_train(CLI::App& app, Runner& run);
void register_sample(CLI::App& app, Runner& run);
void register_lora(CLI::App& app, Runner& run);
void register_eval(CLI::App& app, Runner& run);
void register_denoiser_error(CLI::App& app, Runner& run);
void register_compress(CLI::App& app, Runner& run);

}  // namespace ld::app
