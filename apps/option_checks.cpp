// apps/option_checks.cpp: numeric option ranges and ineffective-option warnings (option_checks.h).
#include "apps/option_checks.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <sstream>

#include "tensor/error.h"

namespace ld::app {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kBig = 1e9;  // "any count you would ask for"; memory and data checks come later

struct Range {
  const char* command;  // "lora train"
  const char* option;   // "--rank"
  double lo, hi;
  bool lo_open = false, hi_open = false;  // (lo, ...] / [..., hi)
};

// Every numeric option. Upper limits of sizes are loose (the commands check memory and data
// sizes themselves); those of float-typed options keep them finite (1e39 is inf as a float).
const Range kRanges[] = {
    {"bench ops", "--reps", 1, 1000},
    {"bench train", "--batch", 1, 4096},
    {"bench train", "--reps", 1, 1000},
    {"bench sample", "--batch", 1, 4096},
    {"bench sample", "--reps", 1, 1000},
    {"bench sample", "--steps", 1, 1000},
    {"bench sample", "--guidance", 0, 1000},
    {"bench lora", "--batch", 1, 4096},
    {"bench lora", "--reps", 1, 1000},
    {"bench lora", "--rank", 1, 1024},
    {"data export-mnist", "--digit", 0, 9},
    {"data export-mnist", "--n", 1, 100000},
    {"data export-mnist", "--seed", 0, 18446744073709551615.0},
    {"data make-shapes", "--n", 1, 100000},
    {"data make-shapes", "--seed", 0, 18446744073709551615.0},
    {"data make-shapes", "--two-shape-fraction", 0, 1},
    {"data check-folder", "--size", 1, 4096},
    {"data check-folder", "--min", 0, 1000000},
    {"data check-folder", "--channels", 1, 3},
    {"classifier train", "--epochs", 1, 1000},
    {"classifier train", "--steps", 0, 10000000},
    {"classifier train", "--batch-size", 1, 4096},
    {"classifier train", "--lr", 0, kInf, true, true},
    {"classifier train", "--max-shift", 0, 8},
    {"classifier train", "--seed", 0, 18446744073709551615.0},
    {"classifier train", "--c1", 1, 1024},
    {"classifier train", "--c2", 1, 1024},
    {"classifier train", "--hidden", 1, 4096},
    {"train", "--steps", 1, kBig},
    {"train", "--batch", 1, kBig},
    {"train", "--lr", 0, kInf, true, true},
    {"train", "--weight-decay", 0, kInf, false, true},
    {"train", "--warmup", 0, kBig},
    {"train", "--clip", 0, kInf, false, true},
    {"train", "--ema", 0, 1, false, true},
    {"train", "--exclude-digits", 0, 9},
    {"train", "--seed", 0, 18446744073709551615.0},
    {"train", "--max-train-samples", 0, kBig},
    {"train", "--log-every", 0, kBig},
    {"train", "--checkpoint-every", 0, kBig},
    {"train", "--sample-every", 0, kBig},
    {"train", "--eval-every", 0, kBig},
    {"train", "--eval-batches", 1, 1000000},
    {"train", "--sample-steps", 1, 100000},
    {"train", "--val-fraction", 0, 0.5},
    {"train", "--vocab-min-count", 1, kBig},
    {"train", "--vocab-size", 4, 1 << 20},
    {"train", "--vocab-spare", 0, 1024},
    {"sample", "--n", 1, kBig},
    {"sample", "--steps", 1, 100000},
    {"sample", "--guidance", 0, 1000},
    {"sample", "--eta", 0, 1},
    {"sample", "--seed", 0, 18446744073709551615.0},
    {"sample", "--batch", 1, kBig},
    {"sample", "--trace-steps", 1, 1000},
    {"sample", "--strength", 0, 1},
    {"eval", "--n-per-digit", 2, kBig},
    {"eval", "--digits", 0, 9},
    {"eval", "--steps", 1, 100000},
    {"eval", "--guidance", 0, 1000},
    {"eval", "--eta", 0, 1},
    {"eval", "--seed", 0, 18446744073709551615.0},
    {"eval", "--batch", 1, kBig},
    {"denoiser-error", "--n", 1, 10000},
    {"denoiser-error", "--t", 0, 1000000},
    {"denoiser-error", "--guidance", 0, 1000},
    {"denoiser-error", "--seed", 0, 18446744073709551615.0},
    {"eval", "--n-prompts", 1, kBig},
    {"eval", "--two-shape-fraction", 0, 1},
    {"lora train", "--rank", 1, 4096},
    {"lora train", "--alpha", 0, 1e6, true},
    {"lora train", "--dropout", 0, 1, false, true},
    {"lora train", "--steps", 1, kBig},
    {"lora train", "--batch", 1, kBig},
    {"lora train", "--lr", 0, kInf, true, true},
    {"lora train", "--weight-decay", 0, kInf, false, true},
    {"lora train", "--warmup", 0, kBig},
    {"lora train", "--clip", 0, kInf, false, true},
    {"lora train", "--seed", 0, 18446744073709551615.0},
    {"lora train", "--prior-weight", 0, 1e6},
    {"lora train", "--eval-every", 0, kBig},
    {"lora train", "--eval-repeats", 1, 1000000},
    {"lora train", "--sample-every", 0, kBig},
    {"lora train", "--sample-steps", 1, 100000},
    {"lora train", "--log-every", 0, kBig},
    {"lora train", "--save-every", 0, kBig},
    {"lora extract", "--rank", 1, 4096},
    {"lora extract", "--alpha", 0, 1e6},
    {"lora merge", "--rank", 0, 4096},
    {"lora resize", "--rank", 1, 4096},
    {"lora resize", "--energy", 0, 1, true},
    {"compress", "--rank", 1, 4096},
    {"compress", "--energy", 0, 1, true},
    {"compress", "--params", 0, 1, true},
    {"compress", "--calib-samples", 0, 10000000},
    {"compress", "--calib-batch", 1, 100000},
    {"compress", "--heldout-samples", 0, 10000000},
    {"compress", "--seed", 0, 18446744073709551615.0},
    {"compress", "--finetune-steps", 0, kBig},
    {"compress", "--batch", 1, kBig},
    {"compress", "--lr", 0, kInf, true, true},
    {"compress", "--warmup", 0, kBig},
    {"compress", "--weight-decay", 0, kInf, false, true},
    {"compress", "--clip", 0, kInf, false, true},
    {"compress", "--ema", 0, 1, false, true},
    {"compress", "--bench-reps", 0, 1000000},
    {"compress", "--bench-batch", 1, 100000},
    {"compress", "--bench-sample-steps", 1, 100000},
};

// Options that take one of a few words: refused while parsing, not when first used (train's
// --captions used to be read only after the run folder was made).
struct Choices {
  const char* command;
  const char* option;
  std::vector<std::string> words;
};
const Choices kChoices[] = {
    {"data export-mnist", "--split", {"train", "test"}},
    {"data export-mnist", "--captions", {"simple", "varied", "ru", "ru-varied", "ru-simple"}},
    {"data check-folder", "--invert", {"auto", "always", "never"}},
    {"classifier eval", "--split", {"train", "test"}},
    {"train", "--captions", {"simple", "varied", "ru", "ru-varied", "ru-simple"}},
    {"sample", "--sampler", {"ddim", "ddpm", "dpmpp-2m", "euler", "euler-a"}},
    {"eval", "--sampler", {"ddim", "ddpm", "dpmpp-2m", "euler", "euler-a"}},
    {"eval", "--dataset", {"mnist", "shapes"}},
    {"compress", "--method", {"svd", "input", "none"}},
    {"compress", "--captions", {"simple", "varied"}},
};

std::string check_choice(const std::string& s, const Choices& c) {
  for (const std::string& w : c.words)
    if (s == w) return "";
  std::string list;
  for (size_t i = 0; i < c.words.size(); ++i)
    list += (i == 0 ? "" : i + 1 == c.words.size() ? " or " : ", ") + c.words[i];
  return "'" + s + "' is not " + list;
}

std::string number(double v) {
  if (v == 18446744073709551615.0) return "18446744073709551615";  // 2^64 - 1, the largest seed
  std::ostringstream s;
  s.precision(15);
  s << v;
  return s.str();
}

std::string range_text(const Range& r) {
  if (r.hi == kInf) return r.lo_open ? "> " + number(r.lo) : ">= " + number(r.lo);
  return std::string(r.lo_open ? "(" : "[") + number(r.lo) + ", " + number(r.hi) + (r.hi_open ? ")" : "]");
}

bool in_range(long double v, const Range& r) {
  const long double lo = r.lo, hi = r.hi;
  return (r.lo_open ? v > lo : v >= lo) && (r.hi_open ? v < hi : v <= hi);
}

bool all_digits(const std::string& s, size_t from) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// An integer option's text -> canonical decimal for CLI11's conversion (which reads "010" as
// octal and wraps "-5" into an unsigned); throws CLI11's ValidationError text via the return.
std::string check_integer(std::string& s, bool is_unsigned, const Range* r) {
  const std::string too_large =
      "'" + s + "' is " + (r ? "outside " + range_text(*r) : std::string("too large"));
  const size_t sign = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  const bool negative = sign && s[0] == '-';
  long double v;
  if (all_digits(s, sign)) {
    errno = 0;
    const unsigned long long mag = std::strtoull(s.c_str() + sign, nullptr, 10);
    if (errno == ERANGE) return too_large;
    v = negative ? -static_cast<long double>(mag) : static_cast<long double>(mag);
    if (negative && mag > 0 && is_unsigned)
      return "'" + s + "' must not be negative" + (r ? " (range " + range_text(*r) + ")" : "");
    s = (negative && mag > 0 ? "-" : "") + std::to_string(mag);
  } else {
    // 2e4, 1.5e3: an exact whole number in exponent form
    char* end = nullptr;
    errno = 0;
    v = std::strtold(s.c_str(), &end);
    const bool looks_numeric = end && *end == '\0' && s.find_first_of("eE") != std::string::npos &&
                               s.find_first_of("xXpPnNiI") == std::string::npos;
    if (!looks_numeric || !std::isfinite(v)) return "'" + s + "' is not a whole number";
    if (v != std::floor(v)) return "'" + s + "' is not a whole number";
    if (v < 0 && is_unsigned)
      return "'" + s + "' must not be negative" + (r ? " (range " + range_text(*r) + ")" : "");
    if (std::fabs(v) >= 18446744073709551616.0L) return too_large;
    const unsigned long long mag = static_cast<unsigned long long>(std::fabs(v));
    s = (v < 0 ? "-" : "") + std::to_string(mag);
  }
  if (!is_unsigned && (v > static_cast<long double>(std::numeric_limits<int64_t>::max()) ||
                       v < static_cast<long double>(std::numeric_limits<int64_t>::min())))
    return too_large;
  if (r && !in_range(v, *r)) return s + " is outside " + range_text(*r);
  return "";
}

std::string check_real(const std::string& s, const Range* r) {
  char* end = nullptr;
  const long double v = std::strtold(s.c_str(), &end);
  if (s.empty() || !end || *end != '\0') return "'" + s + "' is not a number";
  if (!std::isfinite(v)) return "'" + s + "' is not a finite number";
  if (r && !in_range(v, *r)) return s + " is outside " + range_text(*r);
  return "";
}

const Range* find_range(const std::string& command, const std::string& option) {
  for (const Range& r : kRanges)
    if (command == r.command && option == r.option) return &r;
  return nullptr;
}

void add_checks(CLI::App& app, const std::string& path, std::vector<std::string>& missing) {
  for (CLI::Option* opt : app.get_options()) {
    const std::string full_type = opt->get_type_name();
    const std::string type = full_type.substr(0, full_type.find(':'));
    const std::string name = opt->get_name();
    for (const Choices& c : kChoices)
      if (path == c.command && name == c.option)
        opt->check(CLI::Validator([&c](std::string& v) { return check_choice(v, c); }, "", "choice"));
    if (type != "INT" && type != "UINT" && type != "FLOAT") continue;
    const Range* r = find_range(path, name);
    if (!r) missing.push_back(path + " " + name);
    if (type == "FLOAT")
      opt->transform(CLI::Validator([r](std::string& s) { return check_real(s, r); }, "", "number"));
    else
      opt->transform(CLI::Validator(
          [r, u = type == "UINT"](std::string& s) { return check_integer(s, u, r); }, "", "integer"));
  }
  for (CLI::App* sub : app.get_subcommands({}))
    add_checks(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), missing);
}

}  // namespace

std::vector<std::string> add_option_checks(CLI::App& app) {
  std::vector<std::string> missing;
  add_checks(app, "", missing);
  return missing;
}

std::string warmup_warning(int64_t warmup, int64_t steps, double lr) {
  if (warmup <= steps) return "";
  std::ostringstream s;
  s << "--warmup " << warmup << " is longer than --steps " << steps
    << ": the learning rate rises linearly and reaches only " << 100.0 * double(steps) / double(warmup)
    << "% of --lr " << lr << " by the last step";
  return s.str();
}

std::vector<std::string> ignored_option_warnings(CLI::App& app) {
  // the parsed leaf command and its path
  CLI::App* cmd = &app;
  std::string path;
  for (;;) {
    auto subs = cmd->get_subcommands();
    if (subs.empty()) break;
    cmd = subs[0];
    path += (path.empty() ? "" : " ") + cmd->get_name();
  }
  auto given = [&](const char* name) {
    try {
      return cmd->get_option(name)->count() > 0;
    } catch (const CLI::OptionNotFound&) {
      return false;
    }
  };
  auto value = [&](const char* name) { return cmd->get_option(name)->as<std::string>(); };
  auto number = [&](const char* name) { return cmd->get_option(name)->as<double>(); };
  std::vector<std::string> out;
  auto ignored = [&](const char* option, const std::string& because) {
    if (given(option)) out.push_back(std::string(option) + " is ignored " + because);
  };
  if (path == "sample") {
    if (given("--sampler") && value("--sampler") == "ddpm")
      ignored("--steps", "with --sampler ddpm (DDPM takes every one of the model's timesteps)");
    if (given("--sampler") && value("--sampler") != "ddim")
      ignored("--eta", "with --sampler " + value("--sampler") + " (eta is DDIM's noise)");
    if (given("--guidance") && number("--guidance") == 1)
      ignored("--negative-prompt", "with --guidance 1 (no guidance pass to take the negative caption)");
  } else if (path == "eval") {
    if (given("--sampler") && value("--sampler") == "ddpm")
      ignored("--steps", "with --sampler ddpm (DDPM takes every one of the model's timesteps)");
    if (given("--dataset") && value("--dataset") == "shapes") {
      for (const char* o : {"--classifier", "--data", "--n-per-digit", "--digits", "--prompt"})
        ignored(o, "with --dataset shapes (captions judged by rule)");
      if (given("--prompts"))
        for (const char* o : {"--n-prompts", "--two-shape-fraction"})
          ignored(o, "with --prompts (the captions are read)");
    } else {
      for (const char* o : {"--prompts", "--n-prompts", "--two-shape-fraction", "--exclude"})
        ignored(o, "without --dataset shapes");
    }
  } else if (path == "train") {
    if (given("--sample-every") && number("--sample-every") == 0)
      ignored("--sample-steps", "with --sample-every 0 (no sample grids)");
    if (given("--eval-every") && number("--eval-every") == 0)
      ignored("--eval-batches", "with --eval-every 0 (no held-out loss)");
  } else if (path == "lora train") {
    if (!given("--reg")) ignored("--prior-weight", "without --reg (no prior-preservation folder)");
    if (!given("--val")) {
      ignored("--eval-every", "without --val (no held-out folder)");
      ignored("--eval-repeats", "without --val (no held-out folder)");
    }
    if (!given("--sample-every") || number("--sample-every") == 0)
      ignored("--sample-steps", "without --sample-every N (no sample grids)");
    if (given("--full")) {
      ignored("--rank", "with --full (no adapter)");
      ignored("--alpha", "with --full (no adapter)");
      ignored("--dropout", "with --full (no adapter)");
    }
  } else if (path == "compress") {
    if (!given("--finetune-steps") || number("--finetune-steps") == 0)
      for (const char* o : {"--lr", "--warmup", "--weight-decay", "--clip", "--ema", "--batch"})
        ignored(o, "without --finetune-steps N (no fine-tuning)");
    if (!given("--bench-reps") || number("--bench-reps") == 0)
      for (const char* o : {"--bench-batch", "--bench-sample-steps"})
        ignored(o, "without --bench-reps N (no benchmark)");
    if (given("--method") && value("--method") == "svd") ignored("--no-centring", "with --method svd");
  } else if (path == "classifier train") {
    if (given("--steps") && number("--steps") > 0) ignored("--epochs", "with --steps N");
  }
  return out;
}

}  // namespace ld::app
