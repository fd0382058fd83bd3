// diffusion/generation_info.h: what `loradiff sample` writes into, and reads back from, a PNG's
// "parameters" chunk (A1111 infotext, data/png.h) so that one image can be made again alone
// (`--from-png`), and the image inputs of img2img and inpainting (`--init-image`, `--mask`).
#pragma once
#include <string>

#include "tensor/tensor.h"

namespace ld::diffusion {

// --sampler name <-> the infotext's "Sampler" (the web UIs' names: "DDIM", "DDPM", "DPM++ 2M", "Euler",
// "Euler a"). sampler_from_infotext throws naming `file` for a name it does not know.
std::string sampler_infotext_name(const std::string& sampler);
std::string sampler_from_infotext(const std::string& name, const std::string& file);

// The first 10 hex digits of the SHA-256 of a file's bytes ("Model hash", "Lora hashes").
std::string file_hash10(const std::string& path);

// A PNG / JPEG / BMP as the model's start image (1, channels, size, size) in [-1, 1] (8-bit gray p ->
// p / 127.5 - 1, so a PNG pixel comes back as the same byte). Colour is turned to gray for a 1-channel model;
// a 3-channel model gets the RGB planes (a gray file gives three equal ones); any other size is refused,
// naming `option` and the size expected (images are not resized: the kept pixels of an inpainting must be the
// file's own).
Tensor load_init_image(const std::string& path, int64_t size, int64_t channels, const std::string& option);
// A mask image of the same size: white (>= 128) = 1 = regenerate, black = 0 = keep.
Tensor load_mask(const std::string& path, int64_t size, int64_t channels, const std::string& option);

}  // namespace ld::diffusion
