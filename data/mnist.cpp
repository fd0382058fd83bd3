// data/mnist.cpp: MNIST splits <-> IDX files (see mnist.h for the folder layout).
#include "data/mnist.h"

#include <filesystem>

#include "data/idx.h"
#include "tensor/error.h"

namespace ld::data {

const char* split_name(Split split) { return split == Split::Train ? "train" : "test"; }

Split parse_split(const std::string& name) {
  if (name == "train") return Split::Train;
  if (name == "test") return Split::Test;
  fail("unknown split '", name, "', expected 'train' or 'test'");
}

std::array<int64_t, 10> Digits::class_counts() const {
  std::array<int64_t, 10> counts{};
  for (uint8_t l : labels) counts[l]++;
  return counts;
}

void Digits::append(const uint8_t* image, uint8_t label) {
  if (label > 9) fail("Digits::append: label ", int(label), ", expected 0..9");
  pixels.insert(pixels.end(), image, image + image_size());
  labels.push_back(label);
}

MnistPaths mnist_paths(const std::string& dir, Split split) {
  const std::string prefix =
      (std::filesystem::path(dir) / (split == Split::Train ? "train" : "t10k")).string();
  return {prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz"};
}

Digits digits_from_idx_files(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3)
    fail("MNIST images '", images_path, "': ", images.dims.size(),
         " dimensions, expected 3 (count, rows, cols)");
  if (labels.dims.size() != 1)
    fail("MNIST labels '", labels_path, "': ", labels.dims.size(), " dimensions, expected 1 (count)");
  if (images.dims[0] != labels.dims[0])
    fail("MNIST: '", images_path, "' holds ", images.dims[0], " images but '", labels_path, "' holds ",
         labels.dims[0], " labels; expected the same count");
  for (int64_t i = 0; i < labels.dims[0]; ++i)
    if (labels.data[i] > 9)
      fail("MNIST labels '", labels_path, "': label ", int(labels.data[i]), " at index ", i,
           ", expected 0..9");
  Digits d;
  d.rows = images.dims[1];
  d.cols = images.dims[2];
  d.pixels = std::move(images.data);
  d.labels = std::move(labels.data);
  return d;
}

Digits load_mnist(const std::string& dir, Split split) {
  MnistPaths p = mnist_paths(dir, split);
  for (const std::string& f : {p.images, p.labels})
    if (!std::filesystem::exists(f))
      fail("MNIST ", split_name(split), " split: '", f,
           "' does not exist; run `loradiff data fetch-mnist --out ", dir,
           "` (or scripts/fetch_mnist.sh) first");
  return digits_from_idx_files(p.images, p.labels);
}

void save_mnist(const std::string& dir, Split split, const Digits& digits) {
  if (static_cast<int64_t>(digits.pixels.size()) != digits.count() * digits.image_size())
    fail("save_mnist: ", digits.pixels.size(), " pixel bytes for ", digits.count(), " images of ",
         digits.rows, "x", digits.cols);
  if (digits.count() == 0) fail("save_mnist: no digits to write to '", dir, "'");
  MnistPaths p = mnist_paths(dir, split);
  IdxArray images{{digits.count(), digits.rows, digits.cols}, digits.pixels};
  IdxArray labels{{digits.count()}, digits.labels};
  write_idx(p.images, images);
  write_idx(p.labels, labels);
}

}  // namespace ld::data
