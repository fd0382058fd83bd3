// Every field of a model config is honoured or refused (diffusion/config.h), and a request's
// memory is estimated from the config before any work (diffusion/resources.h).
#include <doctest/doctest.h>

#include <cstdlib>

#include "data/vocab.h"
#include "diffusion/config.h"
#include "diffusion/model_io.h"
#include "diffusion/resources.h"
#include "tensor/error.h"

using namespace ld;
using namespace ld::diffusion;

TEST_CASE("image_size and image_channels are checked against the data, naming both") {
  ModelConfig c = load_config("mnist-t2i-tiny");
  CHECK_NOTHROW(check_image_shape(c, 28, 28, 1, "'data/mnist' (--data)", "--config 'x'"));
  c.image_size = 32;
  CHECK_THROWS_WITH_AS(check_image_shape(c, 28, 28, 1, "'data/mnist' (--data)", "--config 'my32.json'"),
                       doctest::Contains("--config 'my32.json' has image_size 32 but the data 'data/mnist' "
                                         "(--data) is 28x28; use a config with image_size 28"),
                       Error);
  c.image_size = 28;
  c.image_channels = 3;
  CHECK_THROWS_WITH_AS(
      check_image_shape(c, 28, 28, 1, "'imgs' (--data)", "the base model 'm'"),
      doctest::Contains("the base model 'm' has image_channels 3 but the data 'imgs' (--data) has 1 "
                        "channel"),
      Error);
}

TEST_CASE("max_tokens other than the tokenizer's 16 is refused (it used to fail at the first step)") {
  auto j = load_config("mnist-t2i-tiny").to_json();
  j["max_tokens"] = 32;
  CHECK_THROWS_WITH_AS(ModelConfig::from_json(j, "my.json"), doctest::Contains("'max_tokens' must be 16"),
                       Error);
}

TEST_CASE("a vocab_size that does not match the vocabulary is refused, not silently replaced") {
  ModelConfig c = load_config("mnist-t2i-tiny");
  c.vocab_size = 100;
  CHECK_THROWS_WITH_AS(build_model(c, data::Vocabulary::builtin(), 0), doctest::Contains("vocab_size 100"),
                       Error);
  c.vocab_size = data::Vocabulary::builtin().size();
  CHECK_NOTHROW(build_model(c, data::Vocabulary::builtin(), 0));
}

TEST_CASE("the parameter estimate is close to the built models' counts") {
  for (const char* name : {"mnist-t2i-tiny", "mnist-t2i-small", "mnist-t2i"}) {
    INFO(name);
    const ModelConfig c = load_config(name);
    const double real = static_cast<double>(build_model(c, data::Vocabulary::builtin(), 0)->num_parameters());
    CHECK(parameter_count(c) > 0.9 * real);
    CHECK(parameter_count(c) < 1.1 * real);
  }
}

TEST_CASE("absurd image counts and batches are refused up front with both sizes") {
  setenv("LORADIFF_MEMORY_AVAILABLE", "8000000000", 1);  // 8 GB, whatever this machine has
  const ModelConfig c = load_config("mnist-t2i");
  CHECK_NOTHROW(check_sample_memory(c, 640, 64, true, "--n", "64 x 10"));
  CHECK_THROWS_WITH_AS(check_sample_memory(c, 100000000, 64, true, "--n", "100000000 x 1"),
                       doctest::Contains("--n 100000000 x 1 needs about"), Error);
  CHECK_NOTHROW(check_sample_memory(c, 100, 1000000, true, "--n", "100 x 1"));  // batch capped at the images
  CHECK_NOTHROW(check_train_memory(c, 64, 60000));
  CHECK_THROWS_WITH_AS(check_train_memory(c, 1000000, 60000),
                       doctest::Contains("--batch 1000000 needs about"), Error);
  unsetenv("LORADIFF_MEMORY_AVAILABLE");
}
