// apps/option_checks.h: the range of every numeric option of every command, in one table,
// checked by CLI11 while the command line is parsed, i.e. before any file is read or any work
// starts, and warnings for options that are given but have no effect.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ld::app {

// Adds to every INT / UINT / FLOAT option of `app` and its subcommands:
//  - integers: a whole number in decimal (2e4 is taken as 20000; 0x10, 1.5 and 010-as-octal are
//    not), within the option's range; "-5" for a seed is refused instead of wrapping around to
//    2^64 - 5, and 99999999999999999999 instead of being clamped;
//  - real numbers: finite (nan and inf are refused), within the option's range.
// Options that take one of a few words (--sampler ddim|ddpm|dpmpp-2m|euler|euler-a, --captions, --split, --method,
// --invert) are checked too. The ranges are in option_checks.cpp. Returns the numeric options that have no
// entry there
// ("train --foo"), which then get only the type checks.
std::vector<std::string> add_option_checks(CLI::App& app);

// One line per option given on the command line that the others make ineffective, e.g.
// "--eta is ignored with --sampler ddpm", for the parsed (leaf) command.
std::vector<std::string> ignored_option_warnings(CLI::App& app);


// A one-line warning when the linear warm-up is longer than the run: the learning rate then
// never reaches --lr. (Allowed: a run continued with --resume and more --steps keeps the same
// schedule, which it could not if --warmup were cut to --steps.) "" when not the case.
std::string warmup_warning(int64_t warmup, int64_t steps, double lr);

}  // namespace ld::app
