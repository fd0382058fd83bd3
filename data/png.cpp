// data/png.cpp: PNG encoding through stb_image_write plus text-chunk insertion, and a chunk walker.
//
// A PNG is the 8-byte signature 89 50 4E 47 0D 0A 1A 0A, then chunks:
//   length (4 bytes, big-endian, of the data only) | type (4 ASCII) | data | CRC-32 of type+data
// starting with IHDR and ending with IEND.
#include "data/png.h"

#include <stb_image.h>
#include <stb_image_write.h>
#include <zlib.h>

#include <cmath>
#include <sstream>

#include "data/utf8.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

namespace ld::data {

namespace {

const std::string kSignature("\x89PNG\r\n\x1a\n", 8);

uint32_t be32(const std::string& b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

void put_be32(std::string& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((v >> s) & 0xff));
}

uint32_t chunk_crc(const std::string& type_and_data) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(type_and_data.data()),
                                     static_cast<uInt>(type_and_data.size())));
}

std::string make_chunk(const std::string& type, const std::string& data) {
  std::string c;
  put_be32(c, static_cast<uint32_t>(data.size()));
  const std::string body = type + data;
  c += body;
  put_be32(c, chunk_crc(body));
  return c;
}

bool is_ascii(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// tEXt for ASCII text, iTXt (uncompressed UTF-8, no language tag) for anything else.
std::string text_chunk(const std::string& keyword, const std::string& text) {
  if (keyword.empty() || keyword.size() > 79 || !is_ascii(keyword) || keyword.front() == ' ' ||
      keyword.back() == ' ' || keyword.find('\0') != std::string::npos)
    fail("PNG text chunk: keyword '", keyword,
         "' must be 1-79 printable ASCII characters without edge spaces");
  if (text.find('\0') != std::string::npos)
    fail("PNG text chunk '", keyword, "': the text contains a NUL byte");
  if (is_ascii(text)) return make_chunk("tEXt", keyword + std::string(1, '\0') + text);
  check_utf8(text, "PNG text chunk '" + keyword + "'");  // iTXt text is UTF-8 by definition
  // keyword \0 compression-flag compression-method language-tag \0 translated-keyword \0 text
  return make_chunk("iTXt", keyword + std::string("\0\0\0\0\0", 5) + text);
}

void append_to_string(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

std::string format_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// A value with a comma, colon or quote is written in double quotes, with \" and \\ escaped.
std::string quote_if_needed(const std::string& v) {
  if (v.find_first_of(",:\"") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::string format_parameters(const GenerationParams& p) {
  if (p.prompt.find('\n') != std::string::npos) fail("format_parameters: the prompt contains a newline");
  if (p.negative_prompt.find('\n') != std::string::npos)
    fail("format_parameters: the negative prompt contains a newline");
  std::vector<std::pair<std::string, std::string>> kv = {{"Steps", std::to_string(p.steps)},
                                                         {"Sampler", p.sampler},
                                                         {"CFG scale", format_number(p.guidance)},
                                                         {"Seed", std::to_string(p.seed)}};
  if (!p.size.empty()) kv.emplace_back("Size", p.size);
  kv.emplace_back("Model hash", p.model_hash);
  kv.insert(kv.end(), p.extra.begin(), p.extra.end());
  std::string line;
  for (const auto& [k, v] : kv) {
    if (k.empty() || k.find_first_of(",:\n\"") != std::string::npos)
      fail("format_parameters: key '", k, "' must be non-empty without commas, colons, quotes or newlines");
    if (v.find('\n') != std::string::npos) fail("format_parameters: value of '", k, "' contains a newline");
    line += (line.empty() ? "" : ", ") + k + ": " + quote_if_needed(v);
  }
  return p.prompt + (p.negative_prompt.empty() ? "" : "\nNegative prompt: " + p.negative_prompt) + "\n" +
         line;
}

void check_prompt(const std::string& prompt, const std::string& what) {
  check_utf8(prompt, what);
  if (prompt.size() > kMaxPromptBytes)
    fail(what, ": ", prompt.size(), " bytes, more than ", kMaxPromptBytes,
         " (the tokenizer reads only the first 15 words); shorten it");
  for (size_t i = 0; i < prompt.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(prompt[i]);
    const bool c1 = c == 0xC2 && i + 1 < prompt.size() && static_cast<unsigned char>(prompt[i + 1]) < 0xA0;
    if ((c < 0x20 && c != '\t') || c == 0x7F || c1)
      fail(what, ": control character ", printable(prompt.substr(i, c1 ? 2 : 1)), " at byte ", i,
           "; a prompt is one line of text (it is stored in the PNG's text chunk)");
  }
}

GenerationParams parse_parameters(const std::string& text) {
  const size_t nl = text.rfind('\n');
  if (nl == std::string::npos) fail("parameters: expected 'prompt\\nKey: value, ...', got no newline");
  GenerationParams p;
  p.prompt = text.substr(0, nl);
  static const std::string kNeg = "Negative prompt: ";
  if (p.prompt.compare(0, kNeg.size(), kNeg) == 0) {  // an empty prompt with a negative one
    p.negative_prompt = p.prompt.substr(kNeg.size());
    p.prompt.clear();
  } else if (const size_t at = p.prompt.find("\n" + kNeg); at != std::string::npos) {
    p.negative_prompt = p.prompt.substr(at + 1 + kNeg.size());
    p.prompt.resize(at);
  }
  const std::string line = text.substr(nl + 1);
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < line.size() && line[i] == ' ') ++i;
  };
  while (i < line.size()) {
    skip_spaces();
    const size_t colon = line.find(':', i);
    if (colon == std::string::npos) fail("parameters: '", line.substr(i), "' is not 'Key: value'");
    const std::string key = line.substr(i, colon - i);
    i = colon + 1;
    skip_spaces();
    std::string value;
    if (i < line.size() && line[i] == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        value += line[i];
      }
      if (i >= line.size()) fail("parameters: unterminated quoted value for '", key, "'");
      ++i;
      skip_spaces();
      if (i < line.size() && line[i] != ',') fail("parameters: text after the quoted value of '", key, "'");
    } else {
      const size_t comma = line.find(',', i);
      value = line.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      i = comma == std::string::npos ? line.size() : comma;
    }
    if (i < line.size()) ++i;  // the comma
    try {
      if (key == "Steps")
        p.steps = std::stoll(value);
      else if (key == "Seed")
        p.seed = std::stoull(value);
      else if (key == "CFG scale")
        p.guidance = std::stod(value);
      else if (key == "Sampler")
        p.sampler = value;
      else if (key == "Size")
        p.size = value;
      else if (key == "Model hash")
        p.model_hash = value;
      else
        p.extra.emplace_back(key, value);
    } catch (const std::logic_error&) {
      fail("parameters: '", key, ": ", value, "' is not a number");
    }
  }
  return p;
}

void check_grid_size(int64_t images, int64_t height, int64_t width, int64_t upscale,
                     const std::string& what) {
  // a near-square grid with a 1-pixel gap between cells (make_grid)
  const double pixels = double(images) * double(height * upscale + 1) * double(width * upscale + 1);
  if (pixels > double(kMaxPngPixels))
    fail(what, ": a grid of ", images, " images of ", height, "x", width, " (shown ", upscale,
         "x larger) has about ", static_cast<int64_t>(pixels / 1e6), " million pixels, more than the ",
         kMaxPngPixels / 1000000, " million a PNG written here can hold; ask for fewer images");
}

namespace {

// stb_image_write's PNG of `comp` interleaved 8-bit channels, with text chunks after IHDR.
std::string encode_png_pixels(int64_t width, int64_t height, int comp, const std::vector<uint8_t>& pixels,
                              const PngTextChunks& text) {
  if (width * height > kMaxPngPixels)
    fail("encode_png: a ", width, "x", height, " image is larger than the ", kMaxPngPixels,
         " pixels a PNG written here can hold");
  if (width <= 0 || height <= 0 || static_cast<int64_t>(pixels.size()) != width * height * comp)
    fail("encode_png: image is ", width, "x", height, " with ", pixels.size() / comp, " pixels");
  std::string png;
  if (!stbi_write_png_to_func(append_to_string, &png, static_cast<int>(width), static_cast<int>(height), comp,
                              pixels.data(), static_cast<int>(width * comp)))
    fail("encode_png: stb_image_write failed for a ", width, "x", height, " image");
  // Signature (8) + IHDR chunk (4 + 4 + 13 + 4 = 25): text chunks go right after.
  if (png.size() < 33 || png.compare(0, 8, kSignature) != 0 || png.compare(12, 4, "IHDR") != 0)
    fail("encode_png: unexpected output from stb_image_write (no IHDR first)");
  std::string chunks;
  for (const auto& [keyword, value] : text) chunks += text_chunk(keyword, value);
  png.insert(33, chunks);
  return png;
}

}  // namespace

std::string encode_png(const GrayImage& image, const PngTextChunks& text) {
  return encode_png_pixels(image.width, image.height, 1, image.pixels, text);
}

std::string encode_png(const RgbImage& image, const PngTextChunks& text) {
  return encode_png_pixels(image.width, image.height, 3, image.pixels, text);
}

RgbImage decode_png_rgb(const std::string& bytes, const std::string& name) {
  check_stb_safe(bytes, name);
  int w = 0, h = 0, channels = 0;
  stbi_uc* p = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                     static_cast<int>(bytes.size()), &w, &h, &channels, 3);
  if (!p)
    fail("cannot decode image '", name,
         "': ", stbi_failure_reason() ? stbi_failure_reason() : "unknown reason");
  RgbImage img{w, h, std::vector<uint8_t>(p, p + static_cast<size_t>(w) * h * 3)};
  stbi_image_free(p);
  return img;
}

GrayImage decode_png(const std::string& bytes, const std::string& name) {
  check_stb_safe(bytes, name);  // stb_image sniffs the format: these bytes may be a JPEG
  int w = 0, h = 0, channels = 0;
  stbi_uc* p = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                     static_cast<int>(bytes.size()), &w, &h, &channels, 1);
  if (!p)
    fail("cannot decode image '", name,
         "': ", stbi_failure_reason() ? stbi_failure_reason() : "unknown reason");
  GrayImage img{w, h, std::vector<uint8_t>(p, p + static_cast<size_t>(w) * h)};
  stbi_image_free(p);
  return img;
}

PngTextChunks read_png_text(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 8 || bytes.compare(0, 8, kSignature) != 0)
    fail("PNG '", name, "': no PNG signature (expected the bytes 89 50 4E 47 0D 0A 1A 0A first)");
  PngTextChunks out;
  size_t pos = 8;
  bool ended = false;
  while (!ended) {
    if (pos + 12 > bytes.size()) fail("PNG '", name, "': truncated at byte ", pos, " (no IEND chunk)");
    const uint32_t len = be32(bytes, pos);
    const std::string type = bytes.substr(pos + 4, 4);
    if (len > bytes.size() || pos + 12 + len > bytes.size())
      fail("PNG '", name, "': chunk '", type, "' at byte ", pos, " claims ", len,
           " bytes, past the end of the file");
    const std::string body = bytes.substr(pos + 4, 4 + len);
    const uint32_t crc = be32(bytes, pos + 8 + len);
    if (crc != chunk_crc(body))
      fail("PNG '", name, "': chunk '", type, "' at byte ", pos, " fails its CRC check (corrupt file)");
    const std::string data = body.substr(4);
    if (type == "tEXt" || type == "iTXt") {
      const size_t z = data.find('\0');
      if (z == std::string::npos || z == 0)
        fail("PNG '", name, "': ", type, " chunk at byte ", pos, " has no keyword");
      const std::string keyword = data.substr(0, z);
      if (type == "tEXt") {
        out.emplace_back(keyword, data.substr(z + 1));
      } else {
        // compression flag, method, language tag \0, translated keyword \0, text
        if (z + 3 > data.size()) fail("PNG '", name, "': iTXt chunk at byte ", pos, " is truncated");
        if (data[z + 1] != 0)
          fail("PNG '", name, "': iTXt chunk '", keyword, "' is compressed; not supported");
        const size_t lang_end = data.find('\0', z + 3);
        const size_t tr_end = lang_end == std::string::npos ? lang_end : data.find('\0', lang_end + 1);
        if (tr_end == std::string::npos) fail("PNG '", name, "': iTXt chunk '", keyword, "' is malformed");
        out.emplace_back(keyword, data.substr(tr_end + 1));
      }
    }
    ended = type == "IEND";
    pos += 12 + len;
  }
  return out;
}

void write_png(const std::string& path, const GrayImage& image,
               const std::optional<GenerationParams>& params) {
  PngTextChunks text;
  if (params) text.emplace_back("parameters", format_parameters(*params));
  write_file_atomic(path, encode_png(image, text));
}

void write_png(const std::string& path, const RgbImage& image,
               const std::optional<GenerationParams>& params) {
  PngTextChunks text;
  if (params) text.emplace_back("parameters", format_parameters(*params));
  write_file_atomic(path, encode_png(image, text));
}

void write_png(const std::string& path, const Tensor& image, const std::optional<GenerationParams>& params) {
  if (image.defined() && image.dim() == 3 && image.size(0) == 3)
    write_png(path, rgb_image_from_tensor(image), params);
  else
    write_png(path, image_from_tensor(image), params);
}

void write_png_grid(const std::string& path, const Tensor& images, int64_t rows, int64_t cols,
                    int64_t upscale, const std::optional<GenerationParams>& params) {
  if (images.defined() && images.dim() == 4 && images.size(1) == 3)
    write_png(path, make_grid_rgb(images, rows, cols, upscale), params);
  else
    write_png(path, make_grid(images, rows, cols, upscale), params);
}

std::optional<GenerationParams> read_png_parameters(const std::string& path) {
  for (const auto& [keyword, text] : read_png_text(read_file(path), path))
    if (keyword == "parameters") return parse_parameters(text);
  return std::nullopt;
}

}  // namespace ld::data
