// fuzz/fuzz_common.cpp: scratch files and the micro model config of the harnesses.
#include "fuzz/fuzz_common.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tensor/error.h"

namespace ld::fuzz {

namespace fs = std::filesystem;

namespace {
std::string g_scratch;
void remove_scratch() {
  std::error_code ec;
  if (!g_scratch.empty()) fs::remove_all(g_scratch, ec);
}
}  // namespace

const std::string& scratch_dir() {
  if (g_scratch.empty()) {
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    g_scratch = (base / ("loradiff-fuzz-" + std::to_string(::getpid()))).string();
    fs::remove_all(g_scratch, ec);
    fs::create_directories(g_scratch);
    std::atexit(remove_scratch);
  }
  return g_scratch;
}

std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = (fs::path(scratch_dir()) / name).string();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail("fuzz: cannot write scratch file '", path, "'");
  return path;
}

diffusion::ModelConfig micro_config() {
  diffusion::ModelConfig c;
  c.name = "fuzz-micro";
  c.channels = {2, 2, 2};
  c.groups = 1;
  c.heads = 1;
  c.time_freq_dim = 2;
  c.time_dim = 2;
  c.text_dim = 2;
  c.text_layers = 1;
  c.text_heads = 1;
  c.text_ff_dim = 2;
  c.timesteps = 10;
  return c;
}

bool small_enough_to_build(const diffusion::ModelConfig& c) {
  for (int64_t ch : c.channels)
    if (ch > 32) return false;
  return c.image_size <= 64 && c.image_channels <= 4 && c.time_freq_dim <= 64 && c.time_dim <= 128 &&
         c.text_dim <= 64 && c.text_layers <= 2 && c.text_ff_dim <= 256 && c.max_tokens <= 64 &&
         c.heads <= 32 && c.text_heads <= 64;
}

}  // namespace ld::fuzz
