// data/image.h: grayscale images in memory, their conversion to and from model
// tensors, decoding image files, resizing, and grids of samples.
//
// The model sees a digit as F32 (1, H, W) in [-1, 1], -1 = background (black), +1 = ink
// (white), like MNIST. An 8-bit pixel p maps to x = p / 127.5 - 1 and back by
// pixel_to_byte(x): every float has a defined byte (see there).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ld::data {

// 8 bits per pixel, row-major, 0 = black.
struct GrayImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;
  uint8_t at(int64_t x, int64_t y) const { return pixels[static_cast<size_t>(y * width + x)]; }
};

// 8 bits per channel, RGB interleaved (3 bytes a pixel), row-major, (0, 0, 0) = black: colour data
// sets (data/shapes.h) and samples of models with image_channels 3.
struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // 3 * width * height
  const uint8_t* at(int64_t x, int64_t y) const { return &pixels[3 * static_cast<size_t>(y * width + x)]; }
  uint8_t* at(int64_t x, int64_t y) { return &pixels[3 * static_cast<size_t>(y * width + x)]; }
};

// Float pixels in [0, 1], row-major, 0 = black; the working form while preparing images.
struct FloatImage {
  int64_t width = 0, height = 0;
  std::vector<float> pixels;
  float at(int64_t x, int64_t y) const { return pixels[static_cast<size_t>(y * width + x)]; }
};

// Model output -> 8 bits: x is clamped to [-1, 1] (+Inf -> 255, -Inf -> 0), then
// p = (x + 1) * 127.5 is rounded to nearest, halves away from zero (x = 0 -> 128). NaN -> 0
// (black): sampling refuses non-finite images (diffusion/sampler.h), so a NaN here is a bug
// upstream, and a float-to-integer cast of NaN would be undefined behaviour. constexpr, so
// that a test can prove in a constant expression (where undefined behaviour does not compile)
// that no float reaches an undefined conversion.
constexpr uint8_t pixel_to_byte(float x) {
  if (x != x) return 0;                                          // NaN; std::clamp would pass it through
  const float p = (std::clamp(x, -1.0f, 1.0f) + 1.0f) * 127.5f;  // in [0, 255]
  return static_cast<uint8_t>(static_cast<double>(p) + 0.5);     // exact in double: floor(p + 0.5)
}

// (H, W) or (1, H, W) F32 in [-1, 1] -> 8 bits by pixel_to_byte.
GrayImage image_from_tensor(const Tensor& image);
// 8 bits -> F32 (1, H, W) in [-1, 1].
Tensor tensor_from_image(const GrayImage& image);
Tensor tensor_from_image(const FloatImage& image);  // [0, 1] -> [-1, 1]
// (3, H, W) F32 in [-1, 1] -> RGB by pixel_to_byte; (H, W) or (1, H, W) gray is replicated.
RgbImage rgb_image_from_tensor(const Tensor& image);
// RGB -> F32 (3, H, W) in [-1, 1] (channel planes, like the model's images).
Tensor tensor_from_image(const RgbImage& image);

// Decode PNG / JPEG / BMP (stb_image, built with only these three decoders) to gray in [0, 1]: colour becomes
// luma 0.299 R + 0.587 G + 0.114 B, transparency is composited over white (a scan or a
// drawing with a transparent background is dark ink on white paper). `name` is used in errors.
FloatImage decode_image(const std::string& bytes, const std::string& name);
// Decode to three planes R, G, B in [0, 1] (gray files give three equal planes); transparency is
// composited over black, the background of colour data sets (data/shapes.h).
std::vector<FloatImage> decode_image_rgb(const std::string& bytes, const std::string& name);
// Throws (naming `name`) for bytes that would trip a known bug of the stb_image version loradiff
// builds with (Debian 12: 2.27): a JPEG Huffman table of more than 256 codes, a PNG chunk longer
// than the file; and for a header claiming more than kMaxImagePixels. decode_image and
// decode_png call it before stb_image.
inline constexpr int64_t kMaxImagePixels = 64'000'000;  // a 50-megapixel phone photo still fits
void check_stb_safe(const std::string& bytes, const std::string& name);

// Resize to out_w x out_h, each axis separately: area averaging when shrinking (each output
// pixel is the mean of the source area it covers), bilinear (pixel centres) when enlarging.
FloatImage resize_image(const FloatImage& image, int64_t out_w, int64_t out_h);
// Scale so the longer side is `size` (aspect kept), centre on a size x size canvas of `pad`.
FloatImage fit_square(const FloatImage& image, int64_t size, float pad);

// Grid of the images of an (N, 1, H, W) or (N, H, W) tensor in [-1, 1]: rows x cols cells
// filled row by row (empty cells black), each cell enlarged `upscale` times (nearest
// neighbour), cells separated by `gap` lines of kGridGapValue (none around the outside).
inline constexpr uint8_t kGridGapValue = 128;
GrayImage make_grid(const Tensor& images, int64_t rows, int64_t cols, int64_t upscale = 1, int64_t gap = 1);
// The same for (N, 3, H, W) colour images (gap lines gray kGridGapValue in all three channels).
RgbImage make_grid_rgb(const Tensor& images, int64_t rows, int64_t cols, int64_t upscale = 1,
                       int64_t gap = 1);
// The usual near-square layout for n images: cols = ceil(sqrt(n)), rows = ceil(n / cols).
void grid_shape(int64_t n, int64_t& rows, int64_t& cols);

}  // namespace ld::data
