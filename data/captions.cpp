// data/captions.cpp: attribute measurement (image moments, ink mass, bounding box) and caption templates.
#include "data/captions.h"

#include <algorithm>

#include "tensor/error.h"

namespace ld::data {

DigitMeasures measure_digit(const uint8_t* p, int64_t rows, int64_t cols) {
  DigitMeasures m;
  double sum = 0, sx = 0, sy = 0;
  int64_t x0 = cols, x1 = -1, y0 = rows, y1 = -1;
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t x = 0; x < cols; ++x) {
      const double w = p[y * cols + x];
      sum += w, sx += w * x, sy += w * y;
      if (p[y * cols + x] >= kInkLevel)
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  m.ink_mass = sum / 255.0;
  if (x1 >= 0) m.bbox_width = x1 - x0 + 1, m.bbox_height = y1 - y0 + 1;
  if (sum <= 0) return m;
  // Central moments mu11 = sum w (x-cx)(y-cy), mu02 = sum w (y-cy)^2. Image y grows downward, so a
  // stroke leaning right ("/") has x growing as y falls: mu11 < 0, hence the minus sign.
  const double cx = sx / sum, cy = sy / sum;
  double mu11 = 0, mu02 = 0;
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t x = 0; x < cols; ++x) {
      const double w = p[y * cols + x];
      mu11 += w * (x - cx) * (y - cy);
      mu02 += w * (y - cy) * (y - cy);
    }
  m.slant = mu02 > 0 ? -mu11 / mu02 : 0.0;
  return m;
}

static double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double hi = v[mid];
  if (v.size() % 2 == 1) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lo + hi);
}

ClassStats class_stats(const std::vector<DigitMeasures>& measures, const std::vector<uint8_t>& labels) {
  if (measures.size() != labels.size())
    fail("class_stats: ", measures.size(), " measurements for ", labels.size(), " labels");
  std::array<std::vector<double>, 10> mass, area;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] > 9) fail("class_stats: label ", int(labels[i]), " at index ", i, ", expected 0..9");
    mass[labels[i]].push_back(measures[i].ink_mass);
    area[labels[i]].push_back(static_cast<double>(measures[i].bbox_area()));
  }
  ClassStats s;
  for (int c = 0; c < 10; ++c)
    s.median_ink_mass[c] = median(mass[c]), s.median_bbox_area[c] = median(area[c]);
  return s;
}

DigitAttributes classify_digit(const DigitMeasures& m, int label, const ClassStats& stats) {
  if (label < 0 || label > 9) fail("classify_digit: label ", label, ", expected 0..9");
  DigitAttributes a;
  if (const double med = stats.median_ink_mass[label]; med > 0) {
    const double r = m.ink_mass / med;
    a.thickness = r < kThinBelow ? Thickness::Thin : r > kThickAbove ? Thickness::Thick : Thickness::Normal;
  }
  a.slant = m.slant > kSlantAbove ? Slant::Right : m.slant < -kSlantAbove ? Slant::Left : Slant::Upright;
  if (const double med = stats.median_bbox_area[label]; med > 0) {
    const double r = static_cast<double>(m.bbox_area()) / med;
    a.size = r < kSmallBelow ? DigitSize::Small : r > kLargeAbove ? DigitSize::Large : DigitSize::Normal;
  }
  return a;
}

std::vector<DigitAttributes> digit_attributes(const Digits& digits) {
  std::vector<DigitMeasures> measures(static_cast<size_t>(digits.count()));
  for (int64_t i = 0; i < digits.count(); ++i)
    measures[i] = measure_digit(digits.image(i), digits.rows, digits.cols);
  const ClassStats stats = class_stats(measures, digits.labels);
  std::vector<DigitAttributes> out(measures.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = classify_digit(measures[i], digits.labels[i], stats);
  return out;
}

const char* digit_word(int digit) {
  static const char* kWords[10] = {"zero", "one", "two",   "three", "four",
                                   "five", "six", "seven", "eight", "nine"};
  if (digit < 0 || digit > 9) fail("digit_word: ", digit, " is not a digit 0..9");
  return kWords[digit];
}

const char* thickness_word(Thickness t) {
  return t == Thickness::Thin ? "thin" : t == Thickness::Thick ? "thick" : "";
}
const char* slant_words(Slant s) {
  return s == Slant::Left ? "slanted left" : s == Slant::Right ? "slanted right" : "upright";
}
const char* size_word(DigitSize s) {
  return s == DigitSize::Small ? "small" : s == DigitSize::Large ? "large" : "";
}

// Join the non-empty parts with spaces, then "a" -> "an" before a vowel sound ("an eight", "an upright one").
static std::string sentence(const std::vector<std::string>& parts) {
  std::vector<std::string> words;
  for (const std::string& p : parts)
    if (!p.empty()) words.push_back(p);
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    std::string w = words[i];
    if (w == "a" && i + 1 < words.size()) {
      const std::string& next = words[i + 1];
      if (next != "one" && std::string("aeiou").find(next[0]) != std::string::npos) w = "an";
    }
    out += (i ? " " : "") + w;
  }
  return out;
}

std::string digit_caption(int label, const DigitAttributes& a, int index) {
  const std::string d = digit_word(label), thick = thickness_word(a.thickness), size = size_word(a.size);
  const bool upright = a.slant == Slant::Upright;
  switch (index) {
    case 0:
      return "a handwritten digit " + d;
    case 1:
      return sentence({"a", thick, upright ? "upright" : "slanted", d});
    case 2:
      return "the digit " + d + (thick.empty() ? "" : ", " + thick) + (size.empty() ? "" : ", " + size);
    case 3:
      return upright ? sentence({"a", size, "upright", d}) : sentence({"a", size, d, slant_words(a.slant)});
    case 4:
      return upright ? sentence({"a", size, thick, "upright", d})
                     : sentence({"a", size, thick, d, slant_words(a.slant)});
    case 5:
      return "the number " + d;
    default:
      fail("digit_caption: template ", index, ", expected 0..", kNumCaptionTemplates - 1);
  }
}

std::vector<std::string> caption_template_words() {
  std::vector<std::string> words = {"a",     "an",    "the",   "handwritten", "digit",   "number", "thin",
                                    "thick", "small", "large", "upright",     "slanted", "left",   "right"};
  for (int d = 0; d < 10; ++d) words.push_back(digit_word(d));
  return words;
}

const char* digit_word_ru(int digit) {
  static const char* kWords[10] = {"ноль", "один",  "два",  "три",    "четыре",
                                   "пять", "шесть", "семь", "восемь", "девять"};
  if (digit < 0 || digit > 9) fail("digit_word_ru: ", digit, " is not a digit 0..9");
  return kWords[digit];
}

// Join the non-empty parts with spaces (Russian needs no a/an rule).
static std::string join_words(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts)
    if (!p.empty()) out += (out.empty() ? "" : " ") + p;
  return out;
}

std::string digit_caption_ru(int label, const DigitAttributes& a, int index) {
  const std::string d = std::string("цифра ") + digit_word_ru(label);
  const std::string thick = a.thickness == Thickness::Thin    ? "тонкая"
                            : a.thickness == Thickness::Thick ? "толстая"
                                                              : "";
  const std::string size = a.size == DigitSize::Small   ? "маленькая"
                           : a.size == DigitSize::Large ? "большая"
                                                        : "";
  const bool upright = a.slant == Slant::Upright;
  const std::string direction = a.slant == Slant::Left ? "с наклоном влево" : "с наклоном вправо";
  switch (index) {
    case 0:
      return "рукописная " + d;
    case 1:
      return join_words({thick, upright ? "прямая" : "наклонная", d});
    case 2:
      return d + (thick.empty() ? "" : ", " + thick) + (size.empty() ? "" : ", " + size);
    case 3:
      return upright ? join_words({size, "прямая", d}) : join_words({size, d, direction});
    case 4:
      return upright ? join_words({size, thick, "прямая", d}) : join_words({size, thick, d, direction});
    case 5:
      return d + ", написанная от руки";
    default:
      fail("digit_caption_ru: template ", index, ", expected 0..", kNumCaptionTemplates - 1);
  }
}

std::vector<std::string> caption_template_words_ru() {
  std::vector<std::string> words;
  for (int d = 0; d < 10; ++d) words.push_back(digit_word_ru(d));
  for (const char* w : {"рукописная", "цифра", "написанная", "от", "руки", "тонкая", "толстая", "маленькая",
                        "большая", "прямая", "наклонная", "с", "наклоном", "вправо", "влево"})
    words.push_back(w);
  return words;
}

const Vocabulary& russian_caption_vocabulary() {
  static const Vocabulary v = [] {
    std::vector<std::string> words = {"<pad>", "<bos>", "<unk>"};
    for (const std::string& w : caption_template_words_ru()) words.push_back(w);
    return Vocabulary::from_words(words);
  }();
  return v;
}

}  // namespace ld::data
