// nn/checkpoint.h: a Module's weights in a safetensors file, plus a metadata map.
//
// The file holds exactly Module::state_dict() (names as reference-model.md gives
// them, F32, PyTorch layouts), so PyTorch's `safetensors.torch.load_file` reads it.
// Training state that is not weights (optimizer moments, EMA shadow) can share a
// file under a prefix ("optim.", "ema.") with with_prefix / take_prefix.
#pragma once
#include <string>

#include "nn/module.h"
#include "nn/safetensors.h"

namespace ld::nn {

void save_checkpoint(const std::string& path, const Module& m, const Metadata& metadata = {});

struct CheckpointInfo {
  Metadata metadata;
  LoadReport report;  // always ok() after a strict load
};
// Strict: every name and shape must match, else an error naming the file lists the problems (the first few,
// on one line). A tensor holding NaN or Inf is refused (check_finite), naming the file and the tensor.
CheckpointInfo load_checkpoint(const std::string& path, Module& m, bool strict = true);

// {"w": t} -> {"optim.w": t}
StateDict with_prefix(const StateDict& dict, const std::string& prefix);
// The entries of `dict` starting with `prefix`, with the prefix removed.
StateDict take_prefix(const StateDict& dict, const std::string& prefix);

}  // namespace ld::nn
