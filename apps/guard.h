// apps/guard.h: the inputs of a command as tensor/path_guard.h's PathArgs, so each command can check,
// before any work, that no output overwrites an input (docs/reliability.md).
#pragma once
#include <string>
#include <vector>

#include "lora/adapter_file.h"
#include "tensor/path_guard.h"

namespace ld::app {

// `--lora FILE:WEIGHT` specs -> {"--lora", FILE}; a malformed spec is left for the loader to refuse.
inline std::vector<PathArg> lora_inputs(const std::vector<std::string>& specs,
                                        const std::string& option = "--lora") {
  std::vector<PathArg> out;
  for (const auto& s : specs) {
    try {
      out.push_back({option, lora::parse_lora_spec(s).path});
    } catch (...) {
    }
  }
  return out;
}

inline std::vector<PathArg> operator+(std::vector<PathArg> a, const std::vector<PathArg>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace ld::app
