// data/mnist.h: MNIST digits in memory and the four IDX files that hold them.
//
// A data folder (default data/mnist) holds, gzip'd, the standard file names:
//   train-images-idx3-ubyte.gz  (N, 28, 28) uint8, white digit (255) on black (0)
//   train-labels-idx1-ubyte.gz  (N) uint8, 0..9
//   t10k-images-idx3-ubyte.gz   the test split, same layout
//   t10k-labels-idx1-ubyte.gz
// `loradiff data fetch-mnist` makes it (mnist_fetch.h).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ld::data {

enum class Split { Train, Test };
const char* split_name(Split split);         // "train", "test"
Split parse_split(const std::string& name);  // throws for anything but train/test

struct Digits {
  int64_t rows = 28, cols = 28;
  std::vector<uint8_t> pixels;  // count() * rows * cols, row-major; 0 = background, 255 = full ink
  std::vector<uint8_t> labels;  // count(), each 0..9

  int64_t count() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_size() const { return rows * cols; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_size(); }
  std::array<int64_t, 10> class_counts() const;
  void append(const uint8_t* image, uint8_t label);  // one image of rows*cols bytes
};

struct MnistPaths {
  std::string images, labels;
};
MnistPaths mnist_paths(const std::string& dir, Split split);

// Load one split; checks both files (idx.h) and that they agree: images (N, R, C),
// labels (N), every label 0..9. Errors name the file and say how to get the data.
Digits load_mnist(const std::string& dir, Split split);
// Same checks, for images and labels already read from files named as given.
Digits digits_from_idx_files(const std::string& images_path, const std::string& labels_path);

// Write both files of one split (gzip'd, atomic).
void save_mnist(const std::string& dir, Split split, const Digits& digits);

}  // namespace ld::data
