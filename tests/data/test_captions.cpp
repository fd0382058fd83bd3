// Caption attributes measured on synthetic images: a thick line is "thick", a line leaning
// right is "slanted right", a short stroke is "small"; the templates and the vocabulary agree.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "data/captions.h"
#include "data/tokenizer.h"
#include "data/vocab.h"

using namespace ld::data;

namespace {

// A 28x28 image with a straight stroke from (x0, y0) to (x1, y1), `width` pixels wide.
std::vector<uint8_t> stroke(double x0, double y0, double x1, double y1, double width) {
  std::vector<uint8_t> img(784, 0);
  const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x) {
      double t = ((x - x0) * dx + (y - y0) * dy) / len2;
      t = std::fmax(0, std::fmin(1, t));
      const double ex = x - (x0 + t * dx), ey = y - (y0 + t * dy);
      if (std::sqrt(ex * ex + ey * ey) <= width / 2) img[y * 28 + x] = 255;
    }
  return img;
}

DigitMeasures measure(const std::vector<uint8_t>& img) { return measure_digit(img.data(), 28, 28); }

// Class stats from a "class" of ordinary upright strokes about 2 px wide and 16 px long
// (each covers columns 12..14 and rows 5..23: ink mass 53, bounding box 3 x 19).
ClassStats stats_of_ordinary_ones() {
  std::vector<DigitMeasures> m;
  std::vector<uint8_t> labels;
  for (int i = 0; i < 5; ++i) {
    m.push_back(measure(stroke(13, 6, 13, 22, 2.0 + 0.1 * i)));
    labels.push_back(1);
  }
  return class_stats(m, labels);
}

}  // namespace

TEST_CASE("thickness: ink mass against the class median") {
  const ClassStats s = stats_of_ordinary_ones();
  CHECK(classify_digit(measure(stroke(13, 6, 13, 22, 2.2)), 1, s).thickness == Thickness::Normal);
  CHECK(classify_digit(measure(stroke(13, 6, 13, 22, 5)), 1, s).thickness == Thickness::Thick);
  CHECK(classify_digit(measure(stroke(13, 6, 13, 22, 1)), 1, s).thickness == Thickness::Thin);
}

TEST_CASE("slant: image moments, y pointing down") {
  const ClassStats s = stats_of_ordinary_ones();
  // "/": bottom-left to top-right leans right
  const DigitMeasures right = measure(stroke(9, 22, 17, 6, 2));
  CHECK(right.slant == doctest::Approx(0.5).epsilon(0.1));  // 8 px across over 16 px up
  CHECK(classify_digit(right, 1, s).slant == Slant::Right);
  CHECK(classify_digit(measure(stroke(17, 22, 9, 6, 2)), 1, s).slant == Slant::Left);
  CHECK(classify_digit(measure(stroke(13, 22, 14, 6, 2)), 1, s).slant == Slant::Upright);
  CHECK(measure(std::vector<uint8_t>(784, 0)).slant == 0);
}

TEST_CASE("size: bounding box area against the class median") {
  const ClassStats s = stats_of_ordinary_ones();
  const DigitMeasures small = measure(stroke(13, 10, 13, 18, 2));
  CHECK(small.bbox_height == 11);
  CHECK(classify_digit(small, 1, s).size == DigitSize::Small);
  CHECK(classify_digit(measure(stroke(12, 3, 14, 25, 4)), 1, s).size == DigitSize::Large);
  CHECK(classify_digit(measure(stroke(13, 6, 13, 22, 2)), 1, s).size == DigitSize::Normal);
  // A class with no examples has no median: its attributes stay neutral rather than dividing by zero.
  CHECK(classify_digit(small, 7, s).size == DigitSize::Normal);
  CHECK(classify_digit(small, 7, s).thickness == Thickness::Normal);
}

TEST_CASE("templates: template 0 is exactly 'a handwritten digit <word>'") {
  DigitAttributes a{Thickness::Thick, Slant::Right, DigitSize::Small};
  CHECK(digit_caption(7, a, 0) == "a handwritten digit seven");
  CHECK(digit_caption(7, a, 1) == "a thick slanted seven");
  CHECK(digit_caption(7, a, 2) == "the digit seven, thick, small");
  CHECK(digit_caption(7, a, 3) == "a small seven slanted right");
  CHECK(digit_caption(7, a, 4) == "a small thick seven slanted right");
  CHECK(digit_caption(7, a, 5) == "the number seven");
  DigitAttributes plain{};
  CHECK(digit_caption(8, plain, 1) == "an upright eight");
  CHECK(digit_caption(8, plain, 2) == "the digit eight");
  CHECK(digit_caption(1, plain, 3) == "an upright one");
  CHECK(digit_caption(8, DigitAttributes{Thickness::Normal, Slant::Left, DigitSize::Normal}, 3) ==
        "an eight slanted left");
  CHECK(digit_caption(1, DigitAttributes{Thickness::Normal, Slant::Left, DigitSize::Normal}, 3) ==
        "a one slanted left");
  for (int d = 0; d < 10; ++d)
    CHECK(digit_caption(d, a, 0) == std::string("a handwritten digit ") + digit_word(d));
  CHECK_THROWS(digit_caption(7, a, kNumCaptionTemplates));
}

TEST_CASE("every caption any template can produce tokenizes without <unk>, in at most 15 words") {
  const Vocabulary& v = Vocabulary::builtin();
  for (const std::string& w : caption_template_words()) CHECK_MESSAGE(v.contains(w), w);
  for (int d = 0; d < 10; ++d)
    for (auto th : {Thickness::Thin, Thickness::Normal, Thickness::Thick})
      for (auto sl : {Slant::Left, Slant::Upright, Slant::Right})
        for (auto sz : {DigitSize::Small, DigitSize::Normal, DigitSize::Large})
          for (int t = 0; t < kNumCaptionTemplates; ++t) {
            const std::string c = digit_caption(d, {th, sl, sz}, t);
            const Tokens tok = tokenize(v, c);
            CHECK_MESSAGE(tok.ok(), c);
            for (const std::string& w : split_words(c)) CHECK_MESSAGE(v.contains(w), c);
          }
}

TEST_CASE("digit_attributes uses each class's own medians") {
  Digits d;
  for (int i = 0; i < 9; ++i) {
    auto img = stroke(13, 6, 13, 22, 2);
    d.append(img.data(), 1);
  }
  auto thick = stroke(13, 6, 13, 22, 6);
  d.append(thick.data(), 1);
  auto other = stroke(13, 6, 13, 22, 6);  // the same thick stroke is ordinary for a class of thick strokes
  d.append(other.data(), 4);
  const auto attrs = digit_attributes(d);
  CHECK(attrs[0].thickness == Thickness::Normal);
  CHECK(attrs[9].thickness == Thickness::Thick);
  CHECK(attrs[10].thickness == Thickness::Normal);
}
