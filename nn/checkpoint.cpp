// nn/checkpoint.cpp: see checkpoint.h.
#include "nn/checkpoint.h"

namespace ld::nn {

void save_checkpoint(const std::string& path, const Module& m, const Metadata& metadata) {
  save_safetensors(path, m.state_dict(), metadata);
}

CheckpointInfo load_checkpoint(const std::string& path, Module& m, bool strict) {
  SafeTensors st = load_safetensors(path);
  CheckpointInfo info;
  info.metadata = std::move(st.metadata);
  check_finite(st.tensors, path);
  try {
    info.report = m.load_state_dict(st.tensors, strict);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  return info;
}

StateDict with_prefix(const StateDict& dict, const std::string& prefix) {
  StateDict out;
  for (const auto& [k, v] : dict) out[prefix + k] = v;
  return out;
}

StateDict take_prefix(const StateDict& dict, const std::string& prefix) {
  StateDict out;
  for (const auto& [k, v] : dict)
    if (k.compare(0, prefix.size(), prefix) == 0) out[k.substr(prefix.size())] = v;
  return out;
}

}  // namespace ld::nn
