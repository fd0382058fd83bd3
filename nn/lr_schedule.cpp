// nn/lr_schedule.cpp: see lr_schedule.h.
#include "nn/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/error.h"

namespace ld::nn {

double LrSchedule::at(int64_t step) const {
  if (step < 0) fail("LrSchedule: step ", step, " is negative");
  if (step < warmup_steps) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (kind == Kind::Constant) return base_lr;
  if (total_steps <= warmup_steps)
    fail("LrSchedule: cosine needs total_steps (", total_steps, ") > warmup_steps (", warmup_steps, ")");
  const double progress = std::clamp(
      static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps), 0.0, 1.0);
  return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

LrSchedule::Kind parse_lr_schedule_kind(const std::string& name) {
  if (name == "constant") return LrSchedule::Kind::Constant;
  if (name == "cosine") return LrSchedule::Kind::Cosine;
  fail("unknown learning-rate schedule '", name, "' (expected constant or cosine)");
}

}  // namespace ld::nn
