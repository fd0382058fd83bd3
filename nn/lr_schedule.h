// nn/lr_schedule.h: the learning rate as a function of the step (0-based).
//   warm-up (step < warmup):  lr = base * (step + 1) / warmup        (linear, from base/warmup up to base)
//   then constant:            lr = base
//   or cosine:                lr = min + (base - min) * (1 + cos(pi * progress)) / 2,
//                             progress = (step - warmup) / (total - warmup), clamped to [0, 1]
#pragma once
#include <cstdint>
#include <string>

namespace ld::nn {

struct LrSchedule {
  enum class Kind { Constant, Cosine };
  Kind kind = Kind::Constant;
  double base_lr = 1e-3;
  int64_t warmup_steps = 0;  // 0: no warm-up
  int64_t total_steps = 0;   // cosine: the step where lr reaches min_lr
  double min_lr = 0.0;       // cosine only

  double at(int64_t step) const;
};

// "constant" or "cosine"; anything else fails listing both.
LrSchedule::Kind parse_lr_schedule_kind(const std::string& name);

}  // namespace ld::nn
