// data/image_folder.h: a folder of images with same-name captions, the LoRA training set
// (article Fig. 4; claim C6 uses 16-24 such pairs).
//
//   my_nines/
//     nine_01.png   nine_01.txt   ("a handwritten digit nine")
//     nine_02.jpg   nine_02.txt
//
// Images: .png .jpg .jpeg .bmp (any letter case). Each is decoded to gray (image.h; or to RGB
// planes with FolderOptions::channels 3, see there), checked
// for polarity, fitted into size x size with its aspect kept (area/bilinear resampling,
// padding with the background level) and scaled to [-1, 1]. Dark ink on light paper is
// detected from the image border and inverted to MNIST's white on black, unless the
// InvertMode says otherwise. Captions: UTF-8 text (anything else is refused, naming the file
// and the byte offset), whitespace runs collapsed to one space; a caption in which the
// tokenizer finds no word (only punctuation, symbols or emoji) is refused like an empty one.
// Hidden files (".name") are ignored; any other file is an error, so nothing is silently
// left out. The folder is only read, never written.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/vocab.h"
#include "tensor/tensor.h"

namespace ld::data {

enum class InvertMode { Auto, Always, Never };
InvertMode parse_invert_mode(const std::string& name);  // "auto", "always", "never"

struct FolderOptions {
  int64_t size = 28;  // output images are size x size
  InvertMode invert = InvertMode::Auto;
  int64_t min_images = 1;  // fewer pairs is an error
  // 1: gray as above. 3: colour planes R, G, B (image.h decode_image_rgb; a gray file gives three equal
  // planes), each fitted like the gray image and padded with its own border median; never inverted
  // (`invert` is ignored: dark-on-light detection is for ink on paper, not for colour data).
  int64_t channels = 1;
};

struct FolderItem {
  std::string image_path, caption_path;
  std::string caption;
  int64_t original_width = 0, original_height = 0;
  bool inverted = false;  // was dark on light, now light on dark
};

struct ImageFolder {
  Tensor images;                  // F32 (N, channels, size, size) in [-1, 1], in file-name order
  std::vector<FolderItem> items;  // N, same order
};

// Every problem found (not just the first) is listed in one ld::Error, each naming its file.
ImageFolder read_image_folder(const std::string& dir, const FolderOptions& options = {});

// The folder's captions against the model's vocabulary, before training on them: a caption
// with no word the vocabulary knows (it would train as the empty caption) is an error naming
// its file; otherwise the return value is ONE warning line summing up unknown words, ignored
// characters and over-long captions over the whole folder ("" when there are none).
std::string check_folder_captions(const ImageFolder& folder, const Vocabulary& vocab, const std::string& dir);

// The border of the image (outermost ring, 1/16 of the shorter side thick, at least 1 pixel)
// has a median brightness above 0.5: a light background, so dark ink.
bool is_dark_on_light(const std::vector<float>& pixels, int64_t width, int64_t height);
// Median brightness of that border: the background level.
float border_median(const std::vector<float>& pixels, int64_t width, int64_t height);

}  // namespace ld::data
