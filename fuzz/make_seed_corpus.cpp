// fuzz/make_seed_corpus.cpp: writes the seed corpora of the harnesses into <root>/<harness>/.
//
// Seeds are what a user would really feed loradiff, made by loradiff's own writers (a micro
// checkpoint, adapters, IDX files plain and gzip'd, PNG/BMP/JPEG with captions, the built-in
// configs), plus hand-made edge cases (truncated, wrong magic, overlapping offsets, a zero
// width, NaN-free but out-of-range fields...). Each file is a few KB at most so libFuzzer
// mutates them quickly. Deterministic: the same files on every run.
//   build/fuzz/fuzz/make_seed_corpus fuzz/corpus
#include <stb_image_write.h>

#include <cstring>
#include <filesystem>
#include <iostream>

#include "data/gzip.h"
#include "data/idx.h"
#include "data/png.h"
#include "diffusion/model_io.h"
#include "fuzz/fuzz_common.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "tensor/file_io.h"
#include "tensor/random.h"

using namespace ld;
namespace fs = std::filesystem;

namespace {

fs::path g_root;

void put(const std::string& harness, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_root / harness);
  write_file_atomic((g_root / harness / name).string(), bytes);
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

// A safetensors file from a header text and raw data, for hand-made (possibly invalid) files.
std::string raw_safetensors(const std::string& header, const std::string& payload) {
  return le64(header.size()) + header + payload;
}

Tensor ramp(Shape shape, float scale) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = scale * static_cast<float>((i * 7) % 11 - 5);
  return t;
}

// --- fuzz_safetensors and fuzz_adapter_load: a micro checkpoint and adapters for it
void safetensors_seeds() {
  const data::Vocabulary& vocab = data::Vocabulary::builtin();
  auto model = diffusion::build_model(fuzz::micro_config(), vocab, 7);
  const std::string checkpoint =
      nn::encode_safetensors(model->state_dict(), diffusion::model_metadata(*model, vocab, {{"step", "0"}}));
  put("fuzz_safetensors", "micro_checkpoint.safetensors", checkpoint);
  put("fuzz_safetensors", "micro_checkpoint_truncated.safetensors",
      checkpoint.substr(0, checkpoint.size() - 100));
  put("fuzz_adapter_load", "not_an_adapter_checkpoint.safetensors", checkpoint);

  // the adapter `lora train` would write for this model (rank 1, attention projections)
  const std::string base_hash = diffusion::weights_hash(lora::base_state_dict(*model));
  lora::LoRAConfig lc;
  lc.rank = 1;
  lc.alpha = 2;
  lora::attach_lora(*model, lc, "lora");
  lora::Adapter adapter = lora::adapter_from_model(*model, "lora");
  for (auto& l : adapter.layers) l.B = ramp(l.B.shape(), 0.01f);
  adapter.targets = lc.targets;
  adapter.base_config = model->config.to_json().dump();
  adapter.base_weights_hash = base_hash;
  adapter.extra["training"] = R"({"steps":10,"images":"nines/"})";
  const std::string path = fuzz::scratch_dir() + "/adapter.safetensors";
  lora::save_adapter(path, adapter);
  const std::string adapter_bytes = read_file(path);
  put("fuzz_safetensors", "micro_adapter.safetensors", adapter_bytes);
  put("fuzz_adapter_load", "micro_adapter.safetensors", adapter_bytes);

  // one layer with rank 2 > the layer's width 2 is still valid; rank 3 does not fit a 2x2 layer
  lora::Adapter one = adapter;
  one.layers.resize(1);
  one.layers[0].A = ramp({2, 2}, 0.1f);
  one.layers[0].B = ramp({2, 2}, 0.1f);
  lora::save_adapter(path, one);
  put("fuzz_adapter_load", "one_layer_rank2.safetensors", read_file(path));
  one.layers[0].A = ramp({3, 2}, 0.1f);
  one.layers[0].B = ramp({2, 3}, 0.1f);
  lora::save_adapter(path, one);
  put("fuzz_adapter_load", "rank_larger_than_layer.safetensors", read_file(path));
  // a layer the model does not have, and a Conv2d adapter (r, in, k, k) / (out, r, 1, 1)
  one.layers[0].name = "unet.down9.attn.self_attn.to_q";
  one.layers[0].A = ramp({1, 2}, 0.1f);
  one.layers[0].B = ramp({2, 1}, 0.1f);
  lora::save_adapter(path, one);
  put("fuzz_adapter_load", "unknown_layer.safetensors", read_file(path));
  lora::LoRAConfig conv;
  conv.rank = 1;
  conv.targets = {"unet.conv_in"};
  auto model2 = diffusion::build_model(fuzz::micro_config(), vocab, 7);
  lora::attach_lora(*model2, conv, "conv");
  lora::Adapter conv_adapter = lora::adapter_from_model(*model2, "conv");
  for (auto& l : conv_adapter.layers) l.B = ramp(l.B.shape(), 0.01f);
  lora::save_adapter(path, conv_adapter);
  put("fuzz_adapter_load", "conv_in_adapter.safetensors", read_file(path));
  put("fuzz_safetensors", "conv_in_adapter.safetensors", read_file(path));
  // values at the edge of float32: (alpha / r) B A = 4e38 overflows, w (alpha / r) B A = 3e38 at the
  // harness's w = 0.75 does not. Found by the fuzzer: load accepted it, merge then refused.
  for (auto& l : conv_adapter.layers) {
    l.A = Tensor::full(l.A.shape(), 1e19f);
    l.B = Tensor::full(l.B.shape(), 1e19f);
  }
  lora::save_adapter(path, conv_adapter);
  put("fuzz_adapter_load", "edge_of_float32.safetensors", read_file(path));

  // every dtype the reader knows, scalars and empty tensors
  put("fuzz_safetensors", "dtypes.safetensors",
      raw_safetensors(R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},)"
                      R"("c":{"dtype":"F16","shape":[2],"data_offsets":[12,16]},)"
                      R"("d":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},)"
                      R"("e":{"dtype":"F64","shape":[1],"data_offsets":[20,28]},)"
                      R"("f":{"dtype":"I64","shape":[1],"data_offsets":[28,36]},)"
                      R"("s":{"dtype":"F32","shape":[],"data_offsets":[36,40]},)"
                      R"("z":{"dtype":"F32","shape":[0,3],"data_offsets":[40,40]}})",
                      std::string("\0\0\x80\x3f\0\0\0\x40\x07\0\0\0\x00\x3c\x01\x7c\x80\x3f\xc0\x7f"
                                  "\0\0\0\0\0\0\xf0\x3f\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0",
                                  40)));
  put("fuzz_safetensors", "empty_header.safetensors", raw_safetensors("{}      ", ""));
  put("fuzz_safetensors", "overlap.safetensors",
      raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                      std::string(8, '\0')));
  put("fuzz_safetensors", "duplicate.safetensors",
      raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                      std::string(4, '\0')));
  put("fuzz_safetensors", "u8_and_bad_metadata.safetensors",
      raw_safetensors(R"({"__metadata__":{"n":1},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                      std::string(4, '\0')));
  put("fuzz_safetensors", "header_too_long.safetensors", le64(1ull << 40) + "{}");
}

// --- fuzz_idx: the first byte picks raw (even) or gzip-it-first (odd), see fuzz_idx.cpp
const std::string kRaw(1, '\0'), kGzipFirst(1, '\1');

void idx_seeds() {
  data::IdxArray labels{{10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}};
  data::IdxArray images{{2, 28, 28}, std::vector<uint8_t>(2 * 784, 0)};
  for (int i = 0; i < 784; i += 3) images.data[i] = 255;
  put("fuzz_idx", "labels_plain", kRaw + data::encode_idx(labels, false));
  put("fuzz_idx", "labels_gzip_first", kGzipFirst + data::encode_idx(labels, false));
  put("fuzz_idx", "images_plain", kRaw + data::encode_idx(images, false));
  put("fuzz_idx", "images_gz_file", kRaw + data::encode_idx(images, true));
  const std::string gz = data::encode_idx(labels, true);
  const std::string plain = data::encode_idx(labels, false);
  put("fuzz_idx", "labels_gz_two_members",
      kRaw + data::gzip(plain.substr(0, 3)) + data::gzip(plain.substr(3)));
  put("fuzz_idx", "labels_gz_truncated", kRaw + gz.substr(0, gz.size() - 6));
  put("fuzz_idx", "labels_gz_trailing_zeros", kRaw + gz + std::string(16, '\0'));
  put("fuzz_idx", "float32_type", kRaw + std::string("\x00\x00\x0d\x01\x00\x00\x00\x01", 8) + "abcd");
  put("fuzz_idx", "dims_truncated", kRaw + std::string("\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", 10));
  put("fuzz_idx", "huge_dims", kRaw + std::string("\x00\x00\x08\x02\xff\xff\xff\xff\xff\xff\xff\xff", 12));
}

// --- fuzz_image_caption: 2 bytes caption length, caption, image bytes
std::string entry(const std::string& caption, const std::string& image) {
  std::string s;
  s.push_back(static_cast<char>(caption.size() & 0xff));
  s.push_back(static_cast<char>(caption.size() >> 8));
  return s + caption + image;
}

void append_to_string(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

void image_seeds() {
  // a 14x14 "seven", white on black like MNIST
  data::GrayImage seven{14, 14, std::vector<uint8_t>(196, 0)};
  for (int x = 3; x < 11; ++x) seven.pixels[3 * 14 + x] = 255;
  for (int y = 3; y < 12; ++y) seven.pixels[y * 14 + 10 - (y - 3) / 2] = 255;
  put("fuzz_image_caption", "png_seven", entry("a handwritten digit seven\n", data::encode_png(seven)));
  // dark ink on white paper, wider than high, with a BOM and odd whitespace in the caption
  data::GrayImage paper{20, 8, std::vector<uint8_t>(160, 240)};
  for (int x = 4; x < 16; ++x) paper.pixels[4 * 20 + x] = 10;
  put("fuzz_image_caption", "png_dark_on_light",
      entry("\xEF\xBB\xBF  A thick,\tslanted   Seven! \r\n",
            data::encode_png(paper, {{"parameters", "a seven"}})));
  // colour with transparency (composited over white), as PNG
  std::vector<uint8_t> rgba(6 * 5 * 4);
  for (size_t i = 0; i < rgba.size(); ++i) rgba[i] = static_cast<uint8_t>(i * 37);
  std::string png_rgba, bmp, jpg;
  stbi_write_png_to_func(append_to_string, &png_rgba, 6, 5, 4, rgba.data(), 6 * 4);
  put("fuzz_image_caption", "png_rgba", entry("a bold digit nine", png_rgba));
  stbi_write_bmp_to_func(append_to_string, &bmp, 6, 5, 3, rgba.data());
  put("fuzz_image_caption", "bmp_rgb", entry("a digit one", bmp));
  stbi_write_jpg_to_func(append_to_string, &jpg, 8, 8, 1, seven.pixels.data(), 50);
  put("fuzz_image_caption", "jpg_gray", entry("the number two written small", jpg));
  // edge cases: empty caption, unknown and too many words, UTF-8, 1x1 image, truncated PNG
  put("fuzz_image_caption", "empty_caption", entry("", data::encode_png(seven)));
  put("fuzz_image_caption", "long_unknown_caption",
      entry("one two three four five six seven eight nine zero a cat on a mat with a hat and more", bmp));
  put("fuzz_image_caption", "utf8_caption",
      entry("une sept \xC3\xA9"
            "crite \xE2\x80\x94 \xF0\x9F\x98\x80",
            bmp));
  put("fuzz_image_caption", "one_pixel", entry("a digit", data::encode_png(data::GrayImage{1, 1, {128}})));
  const std::string png = data::encode_png(seven);
  put("fuzz_image_caption", "png_truncated", entry("a digit seven", png.substr(0, png.size() / 2)));
  put("fuzz_image_caption", "not_an_image", entry("a digit seven", "GIF89a but not really"));
}

// --- fuzz_config: the built-in configs as loradiff writes them, and broken ones
void config_seeds() {
  for (const std::string& name : diffusion::builtin_config_names())
    put("fuzz_config", name + ".json", diffusion::load_config(name).to_json().dump(2));
  put("fuzz_config", "micro.json", fuzz::micro_config().to_json().dump());
  put("fuzz_config", "heads_zero.json", R"({"channels":[8,16,32],"heads":0})");
  put("fuzz_config", "groups_zero.json", R"({"groups":0})");
  put("fuzz_config", "float_for_int.json", R"({"image_size":28.5,"timesteps":1e30})");
  put("fuzz_config", "number_overflow.json", R"({"beta_end":1e400})");
  put("fuzz_config", "negative_channels.json", R"({"channels":[-8,16,32]})");
  put("fuzz_config", "two_channels.json", R"({"channels":[8,16]})");
  put("fuzz_config", "unknown_field.json", R"({"name":"x","chanels":[8,16,32]})");
  put("fuzz_config", "wrong_types.json", R"({"name":7,"dropout":"0.1","channels":{"a":1}})");
  put("fuzz_config", "betas_reversed.json", R"({"beta_schedule":"cosine","beta_start":0.5,"beta_end":0.1})");
  put("fuzz_config", "huge_width.json",
      R"({"channels":[4294967296,8589934592,17179869184],"groups":1,"heads":1})");
  put("fuzz_config", "not_an_object.json", R"([1,2,3])");
  put("fuzz_config", "truncated.json", R"({"name":"mnist-t2i","channels":[32,64,)");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seed_corpus OUT_ROOT   (e.g. fuzz/corpus)\n";
    return 2;
  }
  g_root = argv[1];
  try {
    safetensors_seeds();
    idx_seeds();
    image_seeds();
    config_seeds();
  } catch (const std::exception& e) {
    std::cerr << "make_seed_corpus: " << e.what() << "\n";
    return 1;
  }
  std::cout << "wrote seeds under " << g_root << "\n";
  return 0;
}
