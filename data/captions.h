// data/captions.h: captions for MNIST digits, from the label and from attributes
// measured on the pixels (docs/data.md has the rules and why the thresholds are what they are).
//
//   thickness  ink mass m = sum(p)/255 relative to the median m of the digit's class in its split:
//              thin below kThinBelow x median, thick above kThickAbove x median
//   slant      from second-order image moments about the ink centroid (x right, y down):
//              s = -mu11 / mu02, the horizontal shift of the ink per pixel of height going up;
//              slanted right when s > kSlantAbove, slanted left when s < -kSlantAbove, else upright
//   size       area of the bounding box of pixels >= kInkLevel relative to the class median:
//              small below kSmallBelow x median, large above kLargeAbove x median
//
// Templates (index: example); template 0 is always exactly "a handwritten digit <word>":
//   0 a handwritten digit seven
//   1 a thick slanted seven           (thickness if any; "slanted" or "upright")
//   2 the digit seven, thin, small    (thickness and size, each if any)
//   3 a large seven slanted right     (size if any; slant with direction)
//   4 a small thin upright seven      (all three)
//   5 the number seven
// Russian templates (--captions ru, ru-simple; the article's language), the same attributes with
// the adjectives agreeing with the feminine «цифра»; template 0 is «рукописная цифра <word>»:
//   0 рукописная цифра семь
//   1 толстая наклонная цифра семь       (thickness if any; «наклонная» or «прямая»)
//   2 цифра семь, тонкая, маленькая      (thickness and size, each if any)
//   3 большая цифра семь с наклоном вправо   (size if any; upright: «большая прямая цифра семь»)
//   4 маленькая тонкая прямая цифра семь (all three; slanted: «... цифра семь с наклоном влево»)
//   5 цифра семь, написанная от руки
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/mnist.h"
#include "data/vocab.h"

namespace ld::data {

inline constexpr double kThinBelow = 0.80;
inline constexpr double kThickAbove = 1.25;
inline constexpr double kSlantAbove = 0.20;
inline constexpr double kSmallBelow = 0.85;
inline constexpr double kLargeAbove = 1.15;
inline constexpr int kInkLevel = 128;
inline constexpr int kNumCaptionTemplates = 6;

enum class Thickness { Thin, Normal, Thick };
enum class Slant { Left, Upright, Right };
enum class DigitSize { Small, Normal, Large };

// Raw measurements of one grayscale image (0 = background, 255 = ink).
struct DigitMeasures {
  double ink_mass = 0;     // sum(p) / 255
  double slant = 0;        // -mu11 / mu02; 0 for an empty image
  int64_t bbox_width = 0;  // of pixels >= kInkLevel; 0 for an empty image
  int64_t bbox_height = 0;
  int64_t bbox_area() const { return bbox_width * bbox_height; }
};
DigitMeasures measure_digit(const uint8_t* pixels, int64_t rows, int64_t cols);

// Per-class medians of ink mass and bounding-box area (0 for a class with no images).
struct ClassStats {
  std::array<double, 10> median_ink_mass{};
  std::array<double, 10> median_bbox_area{};
};
ClassStats class_stats(const std::vector<DigitMeasures>& measures, const std::vector<uint8_t>& labels);

struct DigitAttributes {
  Thickness thickness = Thickness::Normal;
  Slant slant = Slant::Upright;
  DigitSize size = DigitSize::Normal;
};
DigitAttributes classify_digit(const DigitMeasures& m, int label, const ClassStats& stats);

// Measure and classify every digit of a split against that split's own class medians.
std::vector<DigitAttributes> digit_attributes(const Digits& digits);

const char* digit_word(int digit);        // 0 -> "zero" .. 9 -> "nine"
const char* thickness_word(Thickness t);  // "thin", "", "thick"
const char* slant_words(Slant s);         // "slanted left", "upright", "slanted right"
const char* size_word(DigitSize s);       // "small", "", "large"

// Template `index` (0 .. kNumCaptionTemplates-1) for this digit.
std::string digit_caption(int label, const DigitAttributes& a, int index);
// Every word any template can produce, in no particular order (the vocabulary must hold them).
std::vector<std::string> caption_template_words();

const char* digit_word_ru(int digit);  // 0 -> "ноль" .. 9 -> "девять"
// Russian template `index` (0 .. kNumCaptionTemplates-1) for this digit.
std::string digit_caption_ru(int label, const DigitAttributes& a, int index);
// Every word the Russian templates can produce: the ten digit words first, then the others.
std::vector<std::string> caption_template_words_ru();
// The vocabulary of `train --captions ru`: <pad> <bos> <unk> + caption_template_words_ru(), in that
// fixed order. A separate list, not appended to data/vocab.txt, so the built-in English vocabulary
// (and every model trained with it, models/) keeps its 27 ids and its token table's shape.
const Vocabulary& russian_caption_vocabulary();

}  // namespace ld::data
