// data/loader.h: shuffled batches of (image, caption tokens, label) for training and evaluation.
//
// A DataLoader walks a CaptionedImages set in epochs. At the start of each epoch it draws,
// from one Philox generator (tensor/random.h), a permutation of the kept samples (Fisher-
// Yates) and then one caption choice per sample; batches are consecutive slices of that
// order. Everything about an epoch follows from (seed, the generator offset at the epoch's
// start), so LoaderState {seed, epoch, position, epoch_offset} resumes exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "data/mnist.h"
#include "data/vocab.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ld::data {

// Images with one or more caption choices each.
struct CaptionedImages {
  Tensor images;                                   // F32 (N, C, H, W) in [-1, 1] (C = 1 gray, 3 RGB)
  std::vector<int32_t> labels;                     // N; -1 where unknown (a user's folder)
  std::vector<std::vector<std::string>> captions;  // N lists, each non-empty
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

enum class CaptionMode {
  Simple,    // only template 0: "a handwritten digit seven"
  Varied,    // all templates of captions.h; the loader picks one per sample per epoch
  RuSimple,  // only Russian template 0: "рукописная цифра семь"
  RuVaried,  // all Russian templates (captions.h)
};
CaptionMode parse_caption_mode(
    const std::string& name);  // "simple", "varied", "ru" (= ru-varied), "ru-simple"
bool is_russian(CaptionMode mode);

// MNIST digits with captions from their measured attributes (captions.h).
CaptionedImages captioned_mnist(const Digits& digits, CaptionMode mode = CaptionMode::Varied);
// A folder read by read_image_folder: its one caption per image, labels unknown.
CaptionedImages captioned_folder(const ImageFolder& folder);

struct LoaderOptions {
  int64_t batch_size = 64;
  uint64_t seed = 0;
  bool shuffle = true;              // false: file order every epoch (evaluation)
  bool drop_last = true;            // false: the last, smaller batch of an epoch is returned too
  std::vector<int> exclude_digits;  // samples with these labels are never returned
  // Data-parallel training: this process takes only its part, shard_of(batch, rank, ranks), of each
  // batch; every process walks the same order (docs/distributed.md).
  int rank = 0, ranks = 1;
};

struct Batch {
  Tensor images;                      // F32 (B, C, H, W) in [-1, 1]
  Tensor tokens;                      // I32 (B, 16): <bos>, words, <pad>
  Tensor labels;                      // I32 (B); -1 where unknown
  std::vector<std::string> captions;  // B, the text behind `tokens`
  std::vector<int64_t> indices;       // B, positions in the CaptionedImages set
  int64_t epoch = 0;
  BatchShard shard;  // which samples of the whole batch these are (whole when ranks = 1)
};

struct LoaderState {
  uint64_t seed = 0;
  uint64_t epoch_offset = 0;  // generator offset at the start of `epoch`
  int64_t epoch = 0;
  int64_t position = 0;     // samples of this epoch already returned
  int64_t num_samples = 0;  // kept samples, to catch resuming on different data
  std::string to_json() const;
  static LoaderState from_json(const std::string& text);
};

class DataLoader {
 public:
  // Tokenizes every caption choice once (warnings() lists unknown or dropped words).
  DataLoader(CaptionedImages data, const Vocabulary& vocab, LoaderOptions options);

  Batch next();  // starts the next epoch when this one has no (full) batch left

  int64_t num_samples() const { return static_cast<int64_t>(kept_.size()); }
  int64_t batches_per_epoch() const;
  const std::vector<std::string>& warnings() const { return warnings_; }
  const LoaderOptions& options() const { return options_; }

  LoaderState state() const;
  void restore(const LoaderState& state);

 private:
  void start_epoch(int64_t epoch);

  CaptionedImages data_;
  LoaderOptions options_;
  std::vector<int64_t> kept_;                    // indices not excluded
  std::vector<std::vector<int32_t>> token_ids_;  // per sample: choices x 16
  std::vector<std::string> warnings_;
  Generator gen_;
  uint64_t epoch_offset_ = 0;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<int64_t> order_;   // this epoch: indices into data_
  std::vector<int32_t> choice_;  // this epoch: caption choice per position
};

}  // namespace ld::data
