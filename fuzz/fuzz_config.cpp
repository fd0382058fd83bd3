// fuzz/fuzz_config.cpp: model config JSON (configs/*.json, `--config file.json`, and the
// config stored in every checkpoint's metadata).
//
// The input is written to a file and read by diffusion::load_config, the path `--config`
// takes: JSON parsing, then ModelConfig::from_json's per-field type and range checks. Any
// rejection must be an ld::Error naming the file and the field. A config that loads must
// survive to_json -> from_json unchanged (checkpoints store it that way).
#include "diffusion/config.h"
#include "fuzz/fuzz_common.h"

using namespace ld;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("config.json", fuzz::as_bytes(data, size));
  diffusion::ModelConfig c;
  try {
    c = diffusion::load_config(path);
  } catch (const Error&) {
    return 0;
  }
  const nlohmann::json j = c.to_json();
  const diffusion::ModelConfig again = diffusion::ModelConfig::from_json(j, "round trip");
  if (again.to_json() != j) __builtin_trap();
  return 0;
}
