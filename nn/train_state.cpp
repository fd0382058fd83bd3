// nn/train_state.cpp: the --resume reader of nn/train_state.h.
#include "nn/train_state.h"

#include "tensor/excerpt.h"

namespace ld::nn {

ResumeState::ResumeState(const std::string& path, const std::string& format, const std::string& fresh_start)
    : path_(path), fresh_start_(fresh_start), st_(load_safetensors(path)) {
  check_finite(st_.tensors, "--resume: '" + path + "'");
  if (text("format") != format)
    fail("--resume: '", path, "' is a '", excerpt(text("format")), "', not a ", format, "; ", fresh_start);
}

StateDict ResumeState::take(const std::string& prefix) const {
  StateDict out;
  for (const auto& [name, t] : st_.tensors)
    if (name.rfind(prefix, 0) == 0) out.emplace(name.substr(prefix.size()), t);
  return out;
}

const std::string& ResumeState::text(const std::string& key) const {
  auto it = st_.metadata.find(key);
  if (it == st_.metadata.end())
    fail("--resume: '", path_, "' has no '", key, "' metadata; not a loradiff train state (", fresh_start_,
         ")");
  return it->second;
}

nlohmann::json ResumeState::json(const std::string& key) const {
  try {
    return nlohmann::json::parse(text(key));
  } catch (const nlohmann::json::exception& e) {
    fail("--resume: '", path_, "' is damaged (", key, ": ", excerpt(e.what(), 160), "); ", fresh_start_);
  }
}

int64_t ResumeState::step() const {
  const std::string& s = text("step");
  size_t used = 0;
  int64_t step = -1;
  try {
    step = std::stoll(s, &used);
  } catch (const std::logic_error&) {
  }
  if (used != s.size() || step < 0)
    fail("--resume: '", path_, "' has a bad step number '", excerpt(s), "'; ", fresh_start_);
  return step;
}

std::optional<std::string> ResumeState::setup_mismatch(const nlohmann::json& now) const {
  if (!has("setup")) return std::nullopt;
  const nlohmann::json saved = json("setup");
  for (const auto& [key, value] : now.items())
    if (!saved.contains(key) || saved.at(key) != value) return key;
  return std::nullopt;
}

nlohmann::json ResumeState::saved_setup_value(const std::string& key) const {
  const nlohmann::json saved = json("setup");
  return saved.contains(key) ? saved.at(key) : nlohmann::json();
}

}  // namespace ld::nn
