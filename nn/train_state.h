// nn/train_state.h: reading back the resume state of a training run (`train_state.safetensors`), the
// one reader every trainer's --resume uses (`train`, `lora train`).
//
// A state is a safetensors file: tensors under prefixes ("model.", "ema.", "optim.", "param.") and, in
// its metadata, the step, every generator's position, the data loader's position and the options that
// decide the run ("setup"). Every failure names the file and says what to do; a damaged or foreign file
// never half-restores a run.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "nn/safetensors.h"

namespace ld::nn {

class ResumeState {
 public:
  // Loads `path` (every tensor checked finite) and checks that its "format" is `format`
  // ("loradiff-train-state", "loradiff-lora-train-state"); `fresh_start` ends the messages
  // ("start a new run without --resume").
  ResumeState(const std::string& path, const std::string& format, const std::string& fresh_start);

  const StateDict& tensors() const { return st_.tensors; }
  StateDict take(const std::string& prefix) const;  // the tensors under `prefix`, without it
  bool has(const std::string& key) const { return st_.metadata.count(key) > 0; }
  const std::string& text(const std::string& key) const;  // a metadata entry that must be there
  nlohmann::json json(const std::string& key) const;      // ... and parse as JSON
  int64_t step() const;
  // The first option of `now` whose value differs from the state's "setup" (or is missing there);
  // nullopt when all agree. A state without "setup" (written before it existed) agrees.
  std::optional<std::string> setup_mismatch(const nlohmann::json& now) const;
  nlohmann::json saved_setup_value(const std::string& key) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_, fresh_start_;
  SafeTensors st_;
};

}  // namespace ld::nn
