// fuzz/fuzz_safetensors.cpp: the safetensors reader, as a checkpoint and as an adapter.
//
// Users feed loradiff half-downloaded checkpoints and files from other tools. Each input is
//   1. decoded by nn::decode_safetensors (header length, JSON, entries, dtypes, offsets);
//      a file that decodes is encoded again and must decode to the same tensors and metadata;
//   2. read as a model checkpoint by diffusion::load_model (metadata config and vocab, the
//      model rebuilt, strict weight names and shapes), when its config is small enough to build;
//   3. read as a LoRA adapter by lora::read_adapter (format, alpha, targets, A/B pairs, ranks).
// Each step may reject the input only with ld::Error (fuzz_common.h).
#include <cstring>

#include "diffusion/model_io.h"
#include "fuzz/fuzz_common.h"
#include "lora/adapter_file.h"
#include "nn/safetensors.h"

using namespace ld;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = static_cast<size_t>(ca.numel()) * dtype_size(ca.dtype());
  return n == 0 || std::memcmp(static_cast<const char*>(ca.storage()->ptr) + ca.offset() * dtype_size(ca.dtype()),
                               static_cast<const char*>(cb.storage()->ptr) + cb.offset() * dtype_size(cb.dtype()),
                               n) == 0;
}

void check_round_trip(const nn::SafeTensors& st) {
  const nn::SafeTensors again = nn::decode_safetensors(nn::encode_safetensors(st.tensors, st.metadata), "re-encoded");
  if (again.metadata != st.metadata || again.tensors.size() != st.tensors.size()) __builtin_trap();
  for (const auto& [name, t] : st.tensors)
    if (!again.tensors.count(name) || !same_bits(t, again.tensors.at(name))) __builtin_trap();
}

// False only for a checkpoint whose valid config is too large to build for every input.
bool buildable_checkpoint(const nn::SafeTensors& st) {
  auto it = st.metadata.find("config");
  if (it == st.metadata.end()) return true;  // load_model fails early and cheaply
  try {
    return fuzz::small_enough_to_build(
        diffusion::ModelConfig::from_json(nlohmann::json::parse(it->second), "fuzz"));
  } catch (...) {
    return true;  // load_model must turn this into an ld::Error itself
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = fuzz::as_bytes(data, size);
  nn::SafeTensors st;
  try {
    st = nn::decode_safetensors(bytes, "fuzz.safetensors");
  } catch (const Error&) {
    return 0;
  }
  check_round_trip(st);
  const std::string path = fuzz::write_scratch("input.safetensors", bytes);
  if (buildable_checkpoint(st)) {
    try {
      diffusion::load_model(path);
    } catch (const Error&) {
    }
  }
  try {
    lora::read_adapter(path);
  } catch (const Error&) {
  }
  return 0;
}
