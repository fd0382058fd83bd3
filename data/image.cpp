// data/image.cpp: pixel conversions, decoding through stb_image, resampling, grids.
#include "data/image.h"

#include <stb_image.h>

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace ld::data {

GrayImage image_from_tensor(const Tensor& image) {
  check_defined("image_from_tensor", image);
  check_dtype("image_from_tensor", image, DType::F32);
  if (!(image.dim() == 2 || (image.dim() == 3 && image.size(0) == 1)))
    fail("image_from_tensor: shape ", shape_str(image.shape()), ", expected (H,W) or (1,H,W)");
  const Tensor c = image.to(Device::CPU).contiguous();
  GrayImage out;
  out.height = c.size(-2);
  out.width = c.size(-1);
  out.pixels.resize(static_cast<size_t>(c.numel()));
  const float* p = c.f32();
  for (int64_t i = 0; i < c.numel(); ++i) out.pixels[i] = pixel_to_byte(p[i]);
  return out;
}

Tensor tensor_from_image(const GrayImage& image) {
  Tensor t = Tensor::empty({1, image.height, image.width});
  float* p = t.f32();
  for (size_t i = 0; i < image.pixels.size(); ++i) p[i] = image.pixels[i] / 127.5f - 1.0f;
  return t;
}

Tensor tensor_from_image(const FloatImage& image) {
  Tensor t = Tensor::empty({1, image.height, image.width});
  float* p = t.f32();
  for (size_t i = 0; i < image.pixels.size(); ++i) p[i] = 2.0f * image.pixels[i] - 1.0f;
  return t;
}

RgbImage rgb_image_from_tensor(const Tensor& image) {
  check_defined("rgb_image_from_tensor", image);
  check_dtype("rgb_image_from_tensor", image, DType::F32);
  const bool gray = image.dim() == 2 || (image.dim() == 3 && image.size(0) == 1);
  if (!gray && !(image.dim() == 3 && image.size(0) == 3))
    fail("rgb_image_from_tensor: shape ", shape_str(image.shape()), ", expected (3,H,W), (1,H,W) or (H,W)");
  const Tensor c = image.to(Device::CPU).contiguous();
  RgbImage out;
  out.height = c.size(-2);
  out.width = c.size(-1);
  const int64_t plane = out.width * out.height;
  out.pixels.resize(static_cast<size_t>(3 * plane));
  const float* p = c.f32();
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t ch = 0; ch < 3; ++ch) out.pixels[3 * i + ch] = pixel_to_byte(p[(gray ? 0 : ch) * plane + i]);
  return out;
}

Tensor tensor_from_image(const RgbImage& image) {
  Tensor t = Tensor::empty({3, image.height, image.width});
  float* p = t.f32();
  const int64_t plane = image.width * image.height;
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t ch = 0; ch < 3; ++ch) p[ch * plane + i] = image.pixels[3 * i + ch] / 127.5f - 1.0f;
  return t;
}

// stb_image 2.27 (the Debian 12 header loradiff builds with) writes past its Huffman-table arrays
// when a JPEG DHT segment declares more than 256 codes in one table (fixed upstream in 2.28).
// This walks the segments the way stb_image does and checks every DHT table it would read.
static bool jpeg_huffman_tables_fit(const std::string& b) {
  const auto at = [&](size_t i) -> size_t { return i < b.size() ? static_cast<uint8_t>(b[i]) : 0; };
  size_t i = 0;  // SOI: FF D8, after any number of FF fill bytes as stb_image accepts it
  while (i < b.size() && at(i) == 0xFF) ++i;
  if (i == 0 || at(i) != 0xD8) return true;  // not a JPEG
  ++i;
  while (i < b.size()) {
    while (i < b.size() && at(i) != 0xFF) ++i;  // the next marker: FF, fill bytes FF, its code
    while (i + 1 < b.size() && at(i + 1) == 0xFF) ++i;
    if (i + 1 >= b.size() || at(i + 1) == 0xD9) return true;  // end of file, or EOI
    const size_t marker = at(i + 1), length = at(i + 2) << 8 | at(i + 3);
    if (marker == 0xC4) {  // DHT: tables of 1 + 16 count bytes + sum(counts) symbols, until length is used
      for (size_t p = i + 4, left = length > 2 ? length - 2 : 0; left > 0 && p < b.size();) {
        size_t codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += at(p + k);
        if (codes > 256) return false;
        p += 17 + codes;
        left -= std::min(left, 17 + codes);
      }
    }
    i += 2 + length;
    if (marker == 0xDA)  // SOS: entropy-coded data up to the next FF not followed by 00 (stuffing) or RSTn
      for (; i + 1 < b.size(); ++i)
        if (at(i) == 0xFF && at(i + 1) != 0x00 && at(i + 1) != 0xFF && (at(i + 1) < 0xD0 || at(i + 1) > 0xD7))
          break;
  }
  return true;
}

// stb_image 2.27 grows its IDAT buffer to the size a PNG chunk header claims before reading the
// chunk: a corrupt length asks for up to 4 GB. stb_image needs every chunk up to IEND whole anyway,
// so a chunk running past the end of the file is refused first. Returns the bad chunk's offset, or 0.
static size_t png_chunk_past_end(const std::string& b) {
  if (b.size() < 8 || b.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return 0;
  const auto be32 = [&](size_t i) {
    return uint64_t{static_cast<uint8_t>(b[i])} << 24 | uint64_t{static_cast<uint8_t>(b[i + 1])} << 16 |
           uint64_t{static_cast<uint8_t>(b[i + 2])} << 8 | uint64_t{static_cast<uint8_t>(b[i + 3])};
  };
  for (size_t pos = 8; pos + 8 <= b.size(); pos += 12 + be32(pos)) {
    if (be32(pos) > b.size() - pos - 8) return pos;
    if (b.compare(pos + 4, 4, "IEND") == 0) break;
  }
  return 0;
}

void check_stb_safe(const std::string& bytes, const std::string& name) {
  if (!jpeg_huffman_tables_fit(bytes))
    fail("cannot read image '", name, "': corrupt JPEG (a Huffman table declares more than 256 codes)");
  if (const size_t at = png_chunk_past_end(bytes))
    fail("cannot read image '", name, "': truncated or corrupt PNG (the chunk at byte ", at,
         " runs past the end of the file)");
  // The size comes from the header: a 60-byte BMP may claim 6 x 8,000,000 pixels, which stb_image
  // would allocate and decode (reading zeros past the end of the file) for a minute.
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                             &w, &h, &channels))
    return;  // stb_image will say what is wrong
  // stb_image 2.27's info reports a top-down BMP's height as negative (its loader takes abs)
  const int64_t pixels = std::abs(static_cast<int64_t>(w)) * std::abs(static_cast<int64_t>(h));
  if (pixels > kMaxImagePixels)
    fail("cannot read image '", name, "': ", std::abs(w), " x ", std::abs(h), " pixels is more than the ",
         kMaxImagePixels / 1000000, " megapixels loradiff reads; shrink it first");
  // BMP holds >= 1 bit per pixel and JPEG >= about 2 bits per 8x8 block, so neither comes near
  // 1024 pixels per byte; stb_image stops a truncated PNG by itself.
  const bool png = bytes.size() >= 4 && bytes.compare(0, 4, "\x89PNG") == 0;
  if (!png && pixels > 1024 * static_cast<int64_t>(bytes.size()))
    fail("cannot read image '", name, "': its header claims ", std::abs(w), " x ", std::abs(h),
         " pixels, more than its ", bytes.size(), " bytes can hold (truncated or corrupt)");
}

namespace {

// The file's pixels as 8-bit RGBA (stb_image converts every mode), after check_stb_safe; the caller
// frees them with stbi_image_free.
stbi_uc* load_rgba(const std::string& bytes, const std::string& name, int& w, int& h) {
  check_stb_safe(bytes, name);
  int channels = 0;
  stbi_uc* rgba = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                        static_cast<int>(bytes.size()), &w, &h, &channels, 4);
  if (!rgba)
    fail("cannot read image '", name, "': ", stbi_failure_reason() ? stbi_failure_reason() : "unknown reason",
         " (expected a PNG, JPEG or BMP file)");
  return rgba;
}

}  // namespace

FloatImage decode_image(const std::string& bytes, const std::string& name) {
  int w = 0, h = 0;
  stbi_uc* rgba = load_rgba(bytes, name, w, h);
  FloatImage out;
  out.width = w;
  out.height = h;
  out.pixels.resize(static_cast<size_t>(w) * h);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const stbi_uc* px = rgba + 4 * i;
    const float luma = (0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2]) / 255.0f;
    const float alpha = px[3] / 255.0f;
    out.pixels[i] = alpha * luma + (1.0f - alpha);  // over white paper
  }
  stbi_image_free(rgba);
  return out;
}

std::vector<FloatImage> decode_image_rgb(const std::string& bytes, const std::string& name) {
  int w = 0, h = 0;
  stbi_uc* rgba = load_rgba(bytes, name, w, h);
  std::vector<FloatImage> planes(3, FloatImage{w, h, std::vector<float>(static_cast<size_t>(w) * h)});
  for (size_t i = 0; i < planes[0].pixels.size(); ++i) {
    const stbi_uc* px = rgba + 4 * i;
    const float alpha = px[3] / 255.0f;
    for (int ch = 0; ch < 3; ++ch) planes[ch].pixels[i] = alpha * (px[ch] / 255.0f);  // over black
  }
  stbi_image_free(rgba);
  return planes;
}

namespace {

// Source taps for each output index along one axis: (source index, weight), weights summing to 1.
struct Tap {
  int64_t src;
  float weight;
};
std::vector<std::vector<Tap>> axis_taps(int64_t in, int64_t out) {
  std::vector<std::vector<Tap>> taps(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / static_cast<double>(out);  // source pixels per output pixel
  for (int64_t j = 0; j < out; ++j) {
    if (scale >= 1.0) {
      // Area: output pixel j covers source interval [j*scale, (j+1)*scale).
      const double lo = j * scale, hi = (j + 1) * scale;
      for (auto s = static_cast<int64_t>(std::floor(lo));
           s < std::min<int64_t>(in, static_cast<int64_t>(std::ceil(hi))); ++s) {
        const double overlap = std::min<double>(hi, s + 1) - std::max<double>(lo, s);
        if (overlap > 0) taps[j].push_back({s, static_cast<float>(overlap / scale)});
      }
    } else {
      // Bilinear between the two nearest source pixel centres.
      const double x = (j + 0.5) * scale - 0.5;
      const auto s0 = static_cast<int64_t>(std::floor(x));
      const double f = x - s0;
      const int64_t a = std::clamp<int64_t>(s0, 0, in - 1), b = std::clamp<int64_t>(s0 + 1, 0, in - 1);
      taps[j].push_back({a, static_cast<float>(1.0 - f)});
      taps[j].push_back({b, static_cast<float>(f)});
    }
  }
  return taps;
}

}  // namespace

FloatImage resize_image(const FloatImage& image, int64_t out_w, int64_t out_h) {
  if (image.width <= 0 || image.height <= 0) fail("resize_image: empty input image");
  if (out_w <= 0 || out_h <= 0) fail("resize_image: output size ", out_w, "x", out_h, " must be positive");
  const auto tx = axis_taps(image.width, out_w), ty = axis_taps(image.height, out_h);
  // Horizontal pass (H x out_w), then vertical pass (out_h x out_w).
  std::vector<float> tmp(static_cast<size_t>(image.height * out_w));
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < out_w; ++x) {
      float v = 0;
      for (const Tap& t : tx[x]) v += t.weight * image.at(t.src, y);
      tmp[y * out_w + x] = v;
    }
  FloatImage out{out_w, out_h, std::vector<float>(static_cast<size_t>(out_w * out_h))};
  for (int64_t y = 0; y < out_h; ++y)
    for (int64_t x = 0; x < out_w; ++x) {
      float v = 0;
      for (const Tap& t : ty[y]) v += t.weight * tmp[t.src * out_w + x];
      out.pixels[y * out_w + x] = v;
    }
  return out;
}

FloatImage fit_square(const FloatImage& image, int64_t size, float pad) {
  if (size <= 0) fail("fit_square: size ", size, " must be positive");
  const double scale = static_cast<double>(size) / static_cast<double>(std::max(image.width, image.height));
  const int64_t w = std::clamp<int64_t>(std::llround(image.width * scale), 1, size);
  const int64_t h = std::clamp<int64_t>(std::llround(image.height * scale), 1, size);
  const FloatImage inner = resize_image(image, w, h);
  FloatImage out{size, size, std::vector<float>(static_cast<size_t>(size * size), pad)};
  const int64_t x0 = (size - w) / 2, y0 = (size - h) / 2;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) out.pixels[(y0 + y) * size + x0 + x] = inner.at(x, y);
  return out;
}

void grid_shape(int64_t n, int64_t& rows, int64_t& cols) {
  if (n <= 0) fail("grid_shape: ", n, " images, expected at least 1");
  cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  rows = (n + cols - 1) / cols;
}

namespace {

// n images in a rows x cols grid, each upscaled and separated by gap pixels: the layout must hold.
void check_grid_layout(const char* what, int64_t n, int64_t rows, int64_t cols, int64_t upscale,
                       int64_t gap) {
  if (rows <= 0 || cols <= 0) fail(what, ": ", rows, " x ", cols, " grid, expected positive rows and cols");
  if (rows * cols < n) fail(what, ": ", n, " images do not fit a ", rows, " x ", cols, " grid");
  if (upscale < 1 || upscale > 64) fail(what, ": upscale ", upscale, ", expected 1..64");
  if (gap < 0) fail(what, ": gap ", gap, " must not be negative");
}

}  // namespace

GrayImage make_grid(const Tensor& images, int64_t rows, int64_t cols, int64_t upscale, int64_t gap) {
  check_defined("make_grid", images);
  check_dtype("make_grid", images, DType::F32);
  if (!(images.dim() == 3 || (images.dim() == 4 && images.size(1) == 1)))
    fail("make_grid: shape ", shape_str(images.shape()), ", expected (N,1,H,W) or (N,H,W)");
  const int64_t n = images.size(0), h = images.size(-2), w = images.size(-1);
  check_grid_layout("make_grid", n, rows, cols, upscale, gap);
  const Tensor c = images.to(Device::CPU).contiguous();
  const int64_t cw = w * upscale, ch = h * upscale;
  GrayImage out;
  out.width = cols * cw + (cols - 1) * gap;
  out.height = rows * ch + (rows - 1) * gap;
  out.pixels.assign(static_cast<size_t>(out.width * out.height), kGridGapValue);
  for (int64_t cell = 0; cell < rows * cols; ++cell) {
    const int64_t ox = (cell % cols) * (cw + gap), oy = (cell / cols) * (ch + gap);
    const float* src = cell < n ? c.f32() + cell * h * w : nullptr;
    for (int64_t y = 0; y < ch; ++y)
      for (int64_t x = 0; x < cw; ++x)
        out.pixels[(oy + y) * out.width + ox + x] =
            src ? pixel_to_byte(src[(y / upscale) * w + x / upscale]) : 0;
  }
  return out;
}

RgbImage make_grid_rgb(const Tensor& images, int64_t rows, int64_t cols, int64_t upscale, int64_t gap) {
  check_defined("make_grid_rgb", images);
  check_dtype("make_grid_rgb", images, DType::F32);
  if (!(images.dim() == 4 && images.size(1) == 3))
    fail("make_grid_rgb: shape ", shape_str(images.shape()), ", expected (N,3,H,W)");
  const int64_t n = images.size(0), h = images.size(-2), w = images.size(-1);
  check_grid_layout("make_grid_rgb", n, rows, cols, upscale, gap);
  const Tensor c = images.to(Device::CPU).contiguous();
  const int64_t cw = w * upscale, ch = h * upscale, plane = h * w;
  RgbImage out;
  out.width = cols * cw + (cols - 1) * gap;
  out.height = rows * ch + (rows - 1) * gap;
  out.pixels.assign(static_cast<size_t>(3 * out.width * out.height), kGridGapValue);
  for (int64_t cell = 0; cell < rows * cols; ++cell) {
    const int64_t ox = (cell % cols) * (cw + gap), oy = (cell / cols) * (ch + gap);
    const float* src = cell < n ? c.f32() + cell * 3 * plane : nullptr;
    for (int64_t y = 0; y < ch; ++y)
      for (int64_t x = 0; x < cw; ++x)
        for (int64_t k = 0; k < 3; ++k)
          out.at(ox + x, oy + y)[k] =
              src ? pixel_to_byte(src[k * plane + (y / upscale) * w + x / upscale]) : 0;
  }
  return out;
}

}  // namespace ld::data
