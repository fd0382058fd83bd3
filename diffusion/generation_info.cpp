// diffusion/generation_info.cpp: sampler names of the infotext, file hashes, init images and masks.
#include "diffusion/generation_info.h"

#include <utility>
#include <vector>

#include "data/image.h"
#include "data/png.h"
#include "data/sha256.h"
#include "data/utf8.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

namespace ld::diffusion {

namespace {

const std::vector<std::pair<std::string, std::string>> kNames = {
    {"ddim", "DDIM"}, {"ddpm", "DDPM"}, {"dpmpp-2m", "DPM++ 2M"}, {"euler", "Euler"}, {"euler-a", "Euler a"}};

Tensor load_gray(const std::string& path, int64_t size, int64_t channels, const std::string& option) {
  if (channels != 1 && channels != 3)
    fail(option, ": the model makes ", channels, "-channel images; only gray (1) and RGB (3) are supported");
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const Error& e) {
    fail(option, ": ", e.what());
  }
  if (channels == 3) {  // a colour model: RGB (a gray file gives three equal planes)
    data::RgbImage c;
    try {
      c = data::decode_png_rgb(bytes, path);
    } catch (const Error& e) {
      fail(option, ": ", e.what());
    }
    if (c.width != size || c.height != size)
      fail(option, ": '", path, "' is ", c.width, "x", c.height, "; the model makes ", size, "x", size,
           " images (give one of that size)");
    return data::tensor_from_image(c).reshape({1, 3, size, size});
  }
  data::GrayImage g;
  try {
    g = data::decode_png(bytes, path);  // any stb format; colour becomes luma
  } catch (const Error& e) {
    fail(option, ": ", e.what());
  }
  if (g.width != size || g.height != size)
    fail(option, ": '", path, "' is ", g.width, "x", g.height, "; the model makes ", size, "x", size,
         " images (give one of that size)");
  return data::tensor_from_image(g).reshape({1, 1, size, size});
}

}  // namespace

std::string sampler_infotext_name(const std::string& sampler) {
  for (const auto& [cli, ui] : kNames)
    if (cli == sampler) return ui;
  fail("sampler_infotext_name: unknown sampler '", sampler, "'");
}

std::string sampler_from_infotext(const std::string& name, const std::string& file) {
  for (const auto& [cli, ui] : kNames)
    if (ui == name) return cli;
  fail("--from-png: '", file, "' names the sampler '", data::printable(name),
       "' (expected DDIM, DDPM, DPM++ 2M, Euler or Euler a)");
}

std::string file_hash10(const std::string& path) { return data::sha256_hex(read_file(path)).substr(0, 10); }

Tensor load_init_image(const std::string& path, int64_t size, int64_t channels, const std::string& option) {
  return load_gray(path, size, channels, option);
}

Tensor load_mask(const std::string& path, int64_t size, int64_t channels, const std::string& option) {
  Tensor m = load_gray(path, size, channels, option);
  float* p = m.f32();
  for (int64_t i = 0; i < m.numel(); ++i)
    p[i] = p[i] > 0.0f ? 1.0f : 0.0f;  // byte 128 -> +0.004, 127 -> -0.004
  return m;
}

}  // namespace ld::diffusion
