// Model configs the config fuzzer (fuzz/fuzz_config.cpp, docs/reliability.md) found to crash or
// to hit undefined behaviour in ModelConfig::from_json / load_config: each must now fail with an
// ld::Error naming the field.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "diffusion/config.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

using namespace ld;
using namespace ld::diffusion;
namespace fs = std::filesystem;

static ModelConfig parse(const std::string& text) { return ModelConfig::from_json(nlohmann::json::parse(text), "fuzz.json"); }

TEST_CASE("config: heads 0 is an error, not a division by zero") {
  CHECK_THROWS_WITH_AS(parse(R"({"heads":0})"), doctest::Contains("'heads'"), Error);
}

TEST_CASE("config: integer fields take only JSON integers, float fields only float-range numbers") {
  // 1e30 into int64 and 1e300 into float are undefined conversions (UBSan: float-cast-overflow);
  // 28.5 used to become 28 silently
  CHECK_THROWS_WITH_AS(parse(R"({"timesteps":1e30})"), doctest::Contains("'timesteps' has the wrong type"), Error);
  CHECK_THROWS_WITH_AS(parse(R"({"image_size":28.5})"), doctest::Contains("'image_size' has the wrong type"), Error);
  CHECK_THROWS_WITH_AS(parse(R"({"channels":[8,16.5,32]})"), doctest::Contains("'channels' has the wrong type"),
                       Error);
  CHECK_THROWS_WITH_AS(parse(R"({"beta_end":1e300})"), doctest::Contains("'beta_end' has the wrong type"), Error);
  CHECK(parse(R"({"dropout":0})").dropout == 0.0f);  // an integer is a fine float
}

TEST_CASE("config: sizes far beyond any model are refused before the model is built") {
  CHECK_THROWS_WITH_AS(parse(R"({"channels":[4294967296,8589934592,17179869184],"groups":1,"heads":1})"),
                       doctest::Contains("at most 4096"), Error);
  CHECK_THROWS_WITH_AS(parse(R"({"text_layers":1000000})"), doctest::Contains("'text_layers'"), Error);
  CHECK_THROWS_WITH_AS(parse(R"({"timesteps":10000000})"), doctest::Contains("'timesteps'"), Error);
  for (const std::string& name : builtin_config_names()) CHECK_NOTHROW(load_config(name));
}

TEST_CASE("config file: a number too large for a double is a clear error") {
  // nlohmann::json throws out_of_range (not parse_error) for 1e400; it escaped load_config
  const fs::path path = fs::temp_directory_path() / ("loradiff-config-" + std::to_string(::getpid()) + ".json");
  write_file_atomic(path.string(), R"({"beta_end":1e400})");
  CHECK_THROWS_WITH_AS(load_config(path.string()), doctest::Contains("not valid JSON"), Error);
  fs::remove(path);
}
