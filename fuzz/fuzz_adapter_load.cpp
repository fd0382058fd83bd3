// fuzz/fuzz_adapter_load.cpp: putting an adapter file onto a model (`--lora FILE:WEIGHT`).
//
// Adapters made for another model, renamed layers, wrong shapes or ranks, odd metadata: a
// micro model of the reference layout (fuzz_common.h) is built once, and each input is
//   1. read by lora::read_adapter (format, alpha, targets, A/B pairs, ranks, finite values);
//   2. attached by lora::load_adapter, which checks every layer name and shape against the
//      model before touching it; when it refuses, the model must be exactly as before;
//   3. when attached: merged into the weights, unmerged, and removed again; the base weights
//      must then be bit-identical to the start (weights_hash), ready for the next input.
#include "diffusion/model_io.h"
#include "fuzz/fuzz_common.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"

using namespace ld;

namespace {

diffusion::TextToImageModel& micro_model() {
  static auto model = diffusion::build_model(fuzz::micro_config(), data::Vocabulary::builtin(), 7);
  return *model;
}

std::string base_hash(const nn::Module& m) { return diffusion::weights_hash(lora::base_state_dict(m)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  diffusion::TextToImageModel& model = micro_model();
  static const std::string initial_hash = base_hash(model);
  const std::string path = fuzz::write_scratch("adapter.safetensors", fuzz::as_bytes(data, size));
  lora::Adapter adapter;
  try {
    adapter = lora::read_adapter(path);
  } catch (const Error&) {
    return 0;
  }
  try {
    lora::load_adapter(model, adapter, 0.75f, "fuzz");
  } catch (const Error&) {
    // refused: nothing may have changed
    if (!lora::lora_layers(model).empty() || base_hash(model) != initial_hash) __builtin_trap();
    return 0;
  }
  lora::merge_lora(model);
  lora::unmerge_lora(model);
  lora::remove_lora(model);
  if (!lora::lora_layers(model).empty() || base_hash(model) != initial_hash) __builtin_trap();
  return 0;
}
