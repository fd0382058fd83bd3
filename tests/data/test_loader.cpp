// The batch loader: seeded and deterministic, every sample once per epoch, excluded digits
// never appear, and a saved state resumes the exact same stream.
#include <doctest/doctest.h>

#include <functional>
#include <set>
#include <string>

#include "data/loader.h"
#include "data/tokenizer.h"
#include "tensor/error.h"

using namespace ld::data;

namespace {

// 50 digits, label i % 10, each image filled with its own index so batches can be traced.
Digits fifty_digits() {
  Digits d;
  for (int i = 0; i < 50; ++i) {
    std::vector<uint8_t> img(784, 0);
    for (int p = 0; p < 100 + 5 * i; ++p) img[(p * 7) % 784] = static_cast<uint8_t>(i + 1);
    img[0] = static_cast<uint8_t>(i);
    d.append(img.data(), static_cast<uint8_t>(i % 10));
  }
  return d;
}

LoaderOptions opts(uint64_t seed, int64_t batch = 8) {
  LoaderOptions o;
  o.seed = seed;
  o.batch_size = batch;
  return o;
}

std::vector<int64_t> stream(DataLoader& l, int batches) {
  std::vector<int64_t> out;
  for (int b = 0; b < batches; ++b) {
    Batch x = l.next();
    out.insert(out.end(), x.indices.begin(), x.indices.end());
    for (const std::string& c : x.captions)
      out.push_back(static_cast<int64_t>(std::hash<std::string>{}(c) % 1000));
  }
  return out;
}

}  // namespace

TEST_CASE("batch contents: shapes, dtypes, values, tokens match captions") {
  const CaptionedImages data = captioned_mnist(fifty_digits());
  DataLoader l(data, Vocabulary::builtin(), opts(1));
  const Batch b = l.next();
  CHECK(b.images.shape() == ld::Shape{8, 1, 28, 28});
  CHECK(b.tokens.shape() == ld::Shape{8, 16});
  CHECK(b.tokens.dtype() == ld::DType::I32);
  CHECK(b.labels.shape() == ld::Shape{8});
  CHECK(b.labels.dtype() == ld::DType::I32);
  for (int64_t k = 0; k < 8; ++k) {
    const int64_t i = b.indices[k];
    CHECK(b.labels.i32()[k] == i % 10);
    CHECK(b.images.at({k, 0, 0, 0}) == doctest::Approx(i / 127.5 - 1.0));
    CHECK(b.tokens.i32()[k * 16] == kBosId);
    CHECK(detokenize(Vocabulary::builtin(), b.tokens.i32() + k * 16) == [&] {
      std::string joined;
      for (const auto& w : split_words(b.captions[k])) joined += (joined.empty() ? "" : " ") + w;
      return joined;
    }());
  }
  CHECK(l.warnings().empty());
  CHECK(data.captions[0].size() == 6);
  CHECK(data.captions[3][0] == "a handwritten digit three");
}

TEST_CASE("same seed, same stream; another seed, another order") {
  const CaptionedImages data = captioned_mnist(fifty_digits());
  DataLoader a(data, Vocabulary::builtin(), opts(7)), b(data, Vocabulary::builtin(), opts(7)),
      c(data, Vocabulary::builtin(), opts(8));
  const auto sa = stream(a, 20), sb = stream(b, 20), sc = stream(c, 20);
  CHECK(sa == sb);
  CHECK(sa != sc);
}

TEST_CASE("one epoch visits every kept sample once; excluded digits never appear") {
  const CaptionedImages data = captioned_mnist(fifty_digits());
  LoaderOptions o = opts(3, 5);
  o.exclude_digits = {9, 4};
  DataLoader l(data, Vocabulary::builtin(), o);
  CHECK(l.num_samples() == 40);
  CHECK(l.batches_per_epoch() == 8);
  std::multiset<int64_t> seen;
  for (int b = 0; b < 8; ++b) {
    const Batch x = l.next();
    CHECK(x.epoch == 0);
    for (int64_t k = 0; k < 5; ++k) {
      CHECK(x.labels.i32()[k] != 9);
      CHECK(x.labels.i32()[k] != 4);
      for (const std::string& w : split_words(x.captions[k])) {
        CHECK(w != "nine");
        CHECK(w != "four");
      }
    }
    seen.insert(x.indices.begin(), x.indices.end());
  }
  CHECK(seen.size() == 40);
  CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 40);
  CHECK(l.next().epoch == 1);
}

TEST_CASE("drop_last = false returns the short last batch; no shuffle keeps file order") {
  const CaptionedImages data = captioned_mnist(fifty_digits(), CaptionMode::Simple);
  LoaderOptions o = opts(0, 16);
  o.drop_last = false;
  o.shuffle = false;
  DataLoader l(data, Vocabulary::builtin(), o);
  CHECK(l.batches_per_epoch() == 4);
  for (int b = 0; b < 3; ++b) CHECK(l.next().indices[0] == 16 * b);
  const Batch last = l.next();
  CHECK(last.images.size(0) == 2);
  CHECK(last.captions[1] == "a handwritten digit nine");
  CHECK(l.next().epoch == 1);
}

TEST_CASE("a saved state resumes exactly, mid-epoch and across epochs") {
  const CaptionedImages data = captioned_mnist(fifty_digits());
  LoaderOptions o = opts(11, 8);
  o.exclude_digits = {9};
  DataLoader ref(data, Vocabulary::builtin(), o);
  for (int b = 0; b < 7; ++b) ref.next();  // into the second epoch (5 batches per epoch)
  const std::string saved = ref.state().to_json();
  const auto expected = stream(ref, 9);

  DataLoader resumed(data, Vocabulary::builtin(), opts(999, 8 /* seed is taken from the state */));
  // different exclusions: different sample count, refused
  CHECK_THROWS_WITH_AS(resumed.restore(LoaderState::from_json(saved)), doctest::Contains("45 samples"),
                       ld::Error);
  DataLoader resumed2(data, Vocabulary::builtin(), [&] {
    LoaderOptions p = opts(999, 8);
    p.exclude_digits = {9};
    return p;
  }());
  resumed2.restore(LoaderState::from_json(saved));
  CHECK(stream(resumed2, 9) == expected);
  CHECK_THROWS_AS(LoaderState::from_json("{\"seed\": 1}"), ld::Error);
}

TEST_CASE("folder data: one caption each, unknown words reported, labels -1") {
  ImageFolder f;
  f.images = ld::Tensor::zeros({2, 1, 28, 28});
  f.items.resize(2);
  f.items[0].caption = "a handwritten digit nine";
  f.items[1].caption = "my own squiggle";
  LoaderOptions o = opts(0, 2);
  o.exclude_digits = {9};  // labels are unknown, so nothing is excluded
  DataLoader l(captioned_folder(f), Vocabulary::builtin(), o);
  REQUIRE(l.warnings().size() == 1);
  CHECK(l.warnings()[0].find("'my', 'own', 'squiggle'") != std::string::npos);
  const Batch b = l.next();
  CHECK(b.labels.i32()[0] == -1);
}

TEST_CASE("bad options are refused") {
  const CaptionedImages data = captioned_mnist(fifty_digits());
  CHECK_THROWS_AS(DataLoader(data, Vocabulary::builtin(), opts(0, 0)), ld::Error);
  CHECK_THROWS_WITH_AS(DataLoader(data, Vocabulary::builtin(), opts(0, 64)), doctest::Contains("cannot fill"),
                       ld::Error);
  LoaderOptions o = opts(0, 8);
  o.exclude_digits = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  CHECK_THROWS_WITH_AS(DataLoader(data, Vocabulary::builtin(), o), doctest::Contains("no samples left"),
                       ld::Error);
}
