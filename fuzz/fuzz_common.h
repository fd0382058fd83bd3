// fuzz/fuzz_common.h: what the harnesses share.
//
// The rule every harness enforces: a loader may reject its input only by throwing ld::Error
// (a message naming the file and what is wrong). Any other exception, a crash, a sanitizer
// report, a leak or a hang is a finding. Harnesses catch ld::Error and nothing else, so
// libFuzzer sees everything else as a crash.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "diffusion/config.h"
#include "tensor/error.h"

namespace ld::fuzz {

// A folder of this process's own (under /dev/shm when it exists, so that loaders which take
// a path cost no disk writes per input); removed at exit.
const std::string& scratch_dir();
// Write `bytes` to scratch_dir()/name and return the path.
std::string write_scratch(const std::string& name, std::string_view bytes);

inline std::string_view as_bytes(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The smallest model of the reference layout: every width 2, one text layer. Its checkpoint
// and adapters are a few KB, so seeds stay small and a load takes well under a millisecond.
diffusion::ModelConfig micro_config();

// Whether a config (already validated by ModelConfig::from_json) is small enough to build the
// model for every fuzz input: widths and depths no larger than mnist-t2i-tiny's. A real
// checkpoint may be larger; the sizes themselves are fuzzed by fuzz_config.
bool small_enough_to_build(const diffusion::ModelConfig& c);

}  // namespace ld::fuzz
