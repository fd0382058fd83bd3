// nn/rng_state.h: the random state a resumed training run needs, as JSON.
//
// A run draws from the loss's generator (t, noise, caption dropout) and from every Dropout
// layer's own generator. A Generator is just (seed, offset) (tensor/random.h), so saving
// these pairs with the weights lets `--resume` continue bit-identically:
//   {"loss": [seed, offset], "dropout": {"<module name>": [seed, offset], ...}}
#pragma once
#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "tensor/random.h"

namespace ld::nn {

nlohmann::json rng_state(const Generator& loss_gen, Module& model);
// Sets loss_gen and every Dropout layer of `model` from rng_state's JSON; throws
// nlohmann::json::exception when an entry is missing or malformed.
void restore_rng_state(const nlohmann::json& state, Generator& loss_gen, Module& model);

}  // namespace ld::nn
