// data/png.h: PNG files out (single images and grids), with the generation settings in a
// text chunk, and the reader for those chunks.
//
// Metadata follows the convention of Stable Diffusion web UIs: a chunk with keyword
// "parameters" whose text is the prompt, a newline, then "Key: value" pairs:
//   a handwritten digit seven
//   Negative prompt: a handwritten digit one                  (only when there is one)
//   Steps: 50, Sampler: DDIM, CFG scale: 3, Seed: 42, Size: 28x28, Model hash: 9f86d08188
// stb_image_write does not write text chunks, so encode_png inserts one after IHDR:
// tEXt (Latin-1; used when the text is ASCII) or iTXt (UTF-8, uncompressed) otherwise,
// each with its CRC-32 over type and data (PNG spec, section 5.3).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/image.h"
#include "tensor/tensor.h"

namespace ld::data {

struct GenerationParams {
  std::string prompt;
  std::string negative_prompt;  // written as a "Negative prompt: ..." line when not empty
  uint64_t seed = 0;
  int64_t steps = 0;
  double guidance = 0;  // classifier-free guidance scale
  std::string sampler = "DDIM";
  std::string size;  // "WxH", written after Seed when not empty
  std::string model_hash;
  std::vector<std::pair<std::string, std::string>> extra;  // more "Key: value" pairs, in order (e.g. "LoRA")
};
std::string format_parameters(const GenerationParams& p);

// A prompt the "parameters" chunk can store, checked before any sampling (throws naming `what`
// and the byte offset): valid UTF-8 (the iTXt chunk's encoding; non-Latin-1 text is fine there),
// no control character but tab (a newline would end the prompt line of the chunk and NUL ends
// PNG text), at most kMaxPromptBytes (the tokenizer reads only 15 words anyway).
inline constexpr size_t kMaxPromptBytes = 4096;
void check_prompt(const std::string& prompt, const std::string& what);
// Inverse of format_parameters; unknown keys land in `extra`. Throws for text that has no
// "Key: value" line.
GenerationParams parse_parameters(const std::string& text);

using PngTextChunks = std::vector<std::pair<std::string, std::string>>;  // (keyword, text)

// The largest image encode_png writes: stb_image_write computes buffer sizes in int.
inline constexpr int64_t kMaxPngPixels = int64_t(1) << 30;
// Before sampling `images` images of height x width for a grid at `upscale`: throws naming
// `what` when the grid would be larger than kMaxPngPixels.
void check_grid_size(int64_t images, int64_t height, int64_t width, int64_t upscale, const std::string& what);

// 8-bit grayscale PNG bytes with the given text chunks after IHDR.
std::string encode_png(const GrayImage& image, const PngTextChunks& text = {});
// 8-bit RGB PNG bytes, the same way.
std::string encode_png(const RgbImage& image, const PngTextChunks& text = {});
// Decode to 8-bit RGB (gray is replicated). `name` is used in errors.
RgbImage decode_png_rgb(const std::string& bytes, const std::string& name);
// Decode to 8-bit gray (colour is converted to luma by stb_image). `name` is used in errors.
GrayImage decode_png(const std::string& bytes, const std::string& name);
// Every tEXt and iTXt chunk of a PNG, checking the signature, the chunk structure and every
// chunk's CRC; errors name the file and the chunk.
PngTextChunks read_png_text(const std::string& bytes, const std::string& name);

// Atomic writes (tensor/file_io.h). Tensors are (1,H,W) or (H,W) in [-1,1], or (3,H,W) written as RGB;
// grids as make_grid, or make_grid_rgb for (N,3,H,W).
void write_png(const std::string& path, const GrayImage& image,
               const std::optional<GenerationParams>& params = std::nullopt);
void write_png(const std::string& path, const RgbImage& image,
               const std::optional<GenerationParams>& params = std::nullopt);
void write_png(const std::string& path, const Tensor& image,
               const std::optional<GenerationParams>& params = std::nullopt);
void write_png_grid(const std::string& path, const Tensor& images, int64_t rows, int64_t cols,
                    int64_t upscale = 1, const std::optional<GenerationParams>& params = std::nullopt);
// The "parameters" chunk of a PNG file, if it has one.
std::optional<GenerationParams> read_png_parameters(const std::string& path);

}  // namespace ld::data
