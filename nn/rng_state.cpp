// nn/rng_state.cpp: the (seed, offset) of the loss generator and of every Dropout layer, to and from
// JSON, so a resumed run draws the same numbers.
#include "nn/rng_state.h"

#include "nn/dropout.h"

namespace ld::nn {

namespace {

// Every Dropout layer's generator, by module name (adapter dropouts included: they are modules too).
std::vector<std::pair<std::string, Generator*>> dropout_generators(Module& model) {
  std::vector<std::pair<std::string, Generator*>> out;
  for (auto& [name, m] : model.named_modules())
    if (auto d = std::dynamic_pointer_cast<Dropout>(m)) out.push_back({name, &d->generator()});
  return out;
}

nlohmann::json to_json(const Generator& g) { return {g.seed(), g.offset()}; }
void from_json(Generator& g, const nlohmann::json& j) {
  g.set_state(j.at(0).get<uint64_t>(), j.at(1).get<uint64_t>());
}

}  // namespace

nlohmann::json rng_state(const Generator& loss_gen, Module& model) {
  nlohmann::json state;
  state["loss"] = to_json(loss_gen);
  state["dropout"] = nlohmann::json::object();
  for (auto& [name, g] : dropout_generators(model)) state["dropout"][name] = to_json(*g);
  return state;
}

void restore_rng_state(const nlohmann::json& state, Generator& loss_gen, Module& model) {
  from_json(loss_gen, state.at("loss"));
  for (auto& [name, g] : dropout_generators(model)) from_json(*g, state.at("dropout").at(name));
}

}  // namespace ld::nn
