// data/loader.cpp: captioned data sets and the seeded, resumable batch loader (see loader.h).
#include "data/loader.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "data/captions.h"
#include "data/tokenizer.h"
#include "tensor/error.h"
#include "tensor/excerpt.h"

namespace ld::data {

CaptionMode parse_caption_mode(const std::string& name) {
  if (name == "simple") return CaptionMode::Simple;
  if (name == "varied") return CaptionMode::Varied;
  if (name == "ru" || name == "ru-varied") return CaptionMode::RuVaried;
  if (name == "ru-simple") return CaptionMode::RuSimple;
  fail("caption mode '", name, "', expected simple, varied, ru (Russian, varied) or ru-simple");
}

bool is_russian(CaptionMode mode) { return mode == CaptionMode::RuSimple || mode == CaptionMode::RuVaried; }

CaptionedImages captioned_mnist(const Digits& digits, CaptionMode mode) {
  CaptionedImages out;
  const int64_t n = digits.count();
  out.images = Tensor::empty({n, 1, digits.rows, digits.cols});
  float* p = out.images.f32();
  for (size_t i = 0; i < digits.pixels.size(); ++i) p[i] = digits.pixels[i] / 127.5f - 1.0f;
  const std::vector<DigitAttributes> attrs = digit_attributes(digits);
  out.labels.resize(static_cast<size_t>(n));
  out.captions.resize(static_cast<size_t>(n));
  const int templates =
      mode == CaptionMode::Simple || mode == CaptionMode::RuSimple ? 1 : kNumCaptionTemplates;
  for (int64_t i = 0; i < n; ++i) {
    out.labels[i] = digits.labels[i];
    for (int t = 0; t < templates; ++t)
      out.captions[i].push_back(is_russian(mode) ? digit_caption_ru(digits.labels[i], attrs[i], t)
                                                 : digit_caption(digits.labels[i], attrs[i], t));
  }
  return out;
}

CaptionedImages captioned_folder(const ImageFolder& folder) {
  CaptionedImages out;
  out.images = folder.images;
  for (const FolderItem& item : folder.items) {
    out.labels.push_back(-1);
    out.captions.push_back({item.caption});
  }
  return out;
}

std::string LoaderState::to_json() const {
  nlohmann::json j = {{"seed", seed},
                      {"epoch_offset", epoch_offset},
                      {"epoch", epoch},
                      {"position", position},
                      {"num_samples", num_samples}};
  return j.dump();
}

LoaderState LoaderState::from_json(const std::string& text) {
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    LoaderState s;
    s.seed = j.at("seed").get<uint64_t>();
    s.epoch_offset = j.at("epoch_offset").get<uint64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.position = j.at("position").get<int64_t>();
    s.num_samples = j.at("num_samples").get<int64_t>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    fail("loader state: cannot parse '", excerpt(text), "': ", excerpt(e.what(), 160),
         " (expected {seed, epoch_offset, epoch, position, num_samples})");
  }
}

DataLoader::DataLoader(CaptionedImages data, const Vocabulary& vocab, LoaderOptions options)
    : data_(std::move(data)), options_(std::move(options)), gen_(options_.seed) {
  const int64_t n = data_.size();
  check_dtype("DataLoader", data_.images, DType::F32, "images");
  if (data_.images.dim() != 4 || data_.images.size(0) != n || data_.images.size(1) < 1)
    fail("DataLoader: images ", shape_str(data_.images.shape()), " for ", n, " labels, expected (", n,
         ",C,H,W)");
  if (static_cast<int64_t>(data_.captions.size()) != n)
    fail("DataLoader: ", data_.captions.size(), " caption lists for ", n, " images");
  if (options_.batch_size <= 0) fail("DataLoader: batch size ", options_.batch_size, " must be positive");
  for (int d : options_.exclude_digits)
    if (d < 0 || d > 9) fail("DataLoader: cannot exclude digit ", d, ", expected 0..9");
  data_.images = data_.images.contiguous();
  token_ids_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (data_.captions[i].empty()) fail("DataLoader: sample ", i, " has no caption");
    const bool excluded = std::find(options_.exclude_digits.begin(), options_.exclude_digits.end(),
                                    data_.labels[i]) != options_.exclude_digits.end();
    if (excluded) continue;
    kept_.push_back(i);
    for (const std::string& c : data_.captions[i]) {
      Tokens t = tokenize(vocab, c);
      if (!t.ok()) warnings_.push_back(t.warning(c));
      token_ids_[i].insert(token_ids_[i].end(), t.ids.begin(), t.ids.end());
    }
  }
  if (kept_.empty()) fail("DataLoader: no samples left after excluding digits (", n, " in the set)");
  if (options_.drop_last && num_samples() < options_.batch_size)
    fail("DataLoader: ", num_samples(), " samples cannot fill one batch of ", options_.batch_size,
         " (use a smaller batch or drop_last = false)");
  if (options_.ranks < 1 || options_.rank < 0 || options_.rank >= options_.ranks)
    fail("DataLoader: rank ", options_.rank, " of ", options_.ranks, " is not a process of the run");
  start_epoch(0);
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = num_samples(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  epoch_offset_ = gen_.offset();
  const int64_t n = num_samples();
  order_ = kept_;
  if (options_.shuffle) {
    const std::vector<int64_t> perm = rand_permutation(n, gen_);
    for (int64_t i = 0; i < n; ++i) order_[i] = kept_[perm[i]];
  }
  choice_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto choices = static_cast<int64_t>(data_.captions[order_[i]].size());
    choice_[i] = choices == 1 ? 0 : static_cast<int32_t>(gen_.next_int(choices));
  }
}

Batch DataLoader::next() {
  const int64_t n = num_samples(), b = options_.batch_size;
  if (position_ >= n || (options_.drop_last && position_ + b > n)) start_epoch(epoch_ + 1);
  const int64_t whole = std::min(b, n - position_);
  Batch out;
  out.shard =
      options_.ranks > 1 ? shard_of(whole, options_.rank, options_.ranks) : BatchShard{whole, 0, whole};
  const int64_t count = out.shard.count, start = position_ + out.shard.first;
  const int64_t ch = data_.images.size(1), h = data_.images.size(2), w = data_.images.size(3);
  const int64_t per = ch * h * w;  // floats per image
  out.epoch = epoch_;
  out.images = Tensor::empty({count, ch, h, w});
  out.tokens = Tensor::empty({count, kContextLength}, DType::I32);
  out.labels = Tensor::empty({count}, DType::I32);
  const float* src = data_.images.f32();
  for (int64_t k = 0; k < count; ++k) {
    const int64_t i = order_[start + k];
    const int32_t c = choice_[start + k];
    std::memcpy(out.images.f32() + k * per, src + i * per, sizeof(float) * per);
    std::memcpy(out.tokens.i32() + k * kContextLength, token_ids_[i].data() + c * kContextLength,
                sizeof(int32_t) * kContextLength);
    out.labels.i32()[k] = data_.labels[i];
    out.captions.push_back(data_.captions[i][c]);
    out.indices.push_back(i);
  }
  position_ += whole;
  return out;
}

LoaderState DataLoader::state() const {
  return {options_.seed, epoch_offset_, epoch_, position_, num_samples()};
}

void DataLoader::restore(const LoaderState& s) {
  if (s.num_samples != num_samples())
    fail("DataLoader::restore: the state was saved for ", s.num_samples, " samples, this loader has ",
         num_samples(), " (different data or excluded digits?)");
  if (s.position < 0 || s.position > num_samples())
    fail("DataLoader::restore: position ", s.position, " outside 0..", num_samples());
  options_.seed = s.seed;
  gen_.set_state(s.seed, s.epoch_offset);
  start_epoch(s.epoch);
  position_ = s.position;
}

}  // namespace ld::data
