// fuzz/fuzz_image_caption.cpp: one entry of an image + caption folder (the LoRA training set:
// phone photos, scans, empty or odd caption files).
//
// Input layout: 2 bytes little-endian caption length L, then L caption bytes, then the image
// file's bytes. They are written as entry.png / entry.txt in a folder of their own and read by
// data::read_image_folder, the path `loradiff lora train --images` takes: the image through
// stb_image (decode_image: PNG, JPEG, BMP, whatever the bytes really are), polarity detection,
// aspect-keeping resize to 28x28; the caption cleaned (BOM, whitespace). Then every caption
// goes through the tokenizer. Rejections must be ld::Error; an accepted entry must give a
// (1, 1, 28, 28) image in [-1, 1] and 16 token ids inside the vocabulary.
#include <cmath>
#include <filesystem>

#include "data/image_folder.h"
#include "data/tokenizer.h"
#include "fuzz/fuzz_common.h"

using namespace ld;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t caption_len = std::min<size_t>(data[0] | (size_t(data[1]) << 8), size - 2);
  const std::string_view caption = fuzz::as_bytes(data + 2, caption_len);
  const std::string_view image = fuzz::as_bytes(data + 2 + caption_len, size - 2 - caption_len);
  const std::string dir = (std::filesystem::path(fuzz::scratch_dir()) / "folder").string();
  std::filesystem::create_directories(dir);
  fuzz::write_scratch("folder/entry.png", image);
  fuzz::write_scratch("folder/entry.txt", caption);

  data::ImageFolder folder;
  try {
    folder = data::read_image_folder(dir);
  } catch (const Error&) {
    return 0;
  }
  if (folder.items.size() != 1 || folder.images.shape() != Shape{1, 1, 28, 28}) __builtin_trap();
  const float* px = folder.images.f32();
  for (int64_t i = 0; i < folder.images.numel(); ++i)
    if (!(px[i] >= -1.0f && px[i] <= 1.0f)) __builtin_trap();
  const data::Vocabulary& vocab = data::Vocabulary::builtin();
  const data::Tokens tokens = data::tokenize(vocab, folder.items[0].caption);
  for (int32_t id : tokens.ids)
    if (id < 0 || id >= vocab.size()) __builtin_trap();
  if (!tokens.ok() && tokens.warning(folder.items[0].caption).empty()) __builtin_trap();
  data::detokenize(vocab, tokens.ids.data());
  return 0;
}
