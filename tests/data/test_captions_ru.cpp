// Russian MNIST captions (`--captions ru`, data/captions.h): every template for every digit, correct
// agreement with «цифра», and the Russian template vocabulary knows every word they produce.
#include <doctest/doctest.h>

#include <set>

#include "data/captions.h"
#include "data/loader.h"
#include "data/tokenizer.h"

using namespace ld::data;

TEST_CASE("Russian templates: examples") {
  DigitAttributes a;
  CHECK(digit_caption_ru(7, a, 0) == "рукописная цифра семь");
  CHECK(digit_caption_ru(7, a, 5) == "цифра семь, написанная от руки");
  CHECK(digit_caption_ru(0, a, 1) == "прямая цифра ноль");
  CHECK(digit_caption_ru(3, a, 2) == "цифра три");
  a.thickness = Thickness::Thick;
  a.slant = Slant::Right;
  a.size = DigitSize::Large;
  CHECK(digit_caption_ru(7, a, 1) == "толстая наклонная цифра семь");
  CHECK(digit_caption_ru(7, a, 2) == "цифра семь, толстая, большая");
  CHECK(digit_caption_ru(7, a, 3) == "большая цифра семь с наклоном вправо");
  a.thickness = Thickness::Thin;
  a.slant = Slant::Left;
  a.size = DigitSize::Small;
  CHECK(digit_caption_ru(9, a, 4) == "маленькая тонкая цифра девять с наклоном влево");
  a.slant = Slant::Upright;
  CHECK(digit_caption_ru(4, a, 4) == "маленькая тонкая прямая цифра четыре");
  CHECK_THROWS(digit_caption_ru(1, a, kNumCaptionTemplates));
  CHECK(std::string(digit_word_ru(8)) == "восемь");
}

TEST_CASE("Russian templates: every word of every caption is in the Russian vocabulary") {
  const Vocabulary& v = russian_caption_vocabulary();
  CHECK(v.size() == 3 + 25);
  for (int d = 0; d < 10; ++d) CHECK(v.id(digit_word_ru(d)) == 3 + d);
  std::set<std::string> used;
  for (int label = 0; label < 10; ++label)
    for (Thickness t : {Thickness::Thin, Thickness::Normal, Thickness::Thick})
      for (Slant s : {Slant::Left, Slant::Upright, Slant::Right})
        for (DigitSize z : {DigitSize::Small, DigitSize::Normal, DigitSize::Large})
          for (int i = 0; i < kNumCaptionTemplates; ++i) {
            const std::string c = digit_caption_ru(label, {t, s, z}, i);
            const Tokens tok = tokenize(v, c);
            CHECK_MESSAGE(tok.ok(), c);
            for (const auto& w : split_words(c)) used.insert(w);
          }
  // and every word of the list is used by some template (no dead rows)
  for (const std::string& w : caption_template_words_ru()) CHECK_MESSAGE(used.count(w) == 1, w);
  // the English built-in vocabulary is untouched: 27 ids, "seven" still 10
  CHECK(Vocabulary::builtin().size() == 27);
  CHECK(Vocabulary::builtin().id("seven") == 10);
}

TEST_CASE("--captions ru / ru-simple parse, and captioned_mnist writes Russian captions") {
  CHECK(parse_caption_mode("ru") == CaptionMode::RuVaried);
  CHECK(parse_caption_mode("ru-simple") == CaptionMode::RuSimple);
  CHECK(is_russian(CaptionMode::RuSimple));
  CHECK_FALSE(is_russian(CaptionMode::Varied));
  Digits d;
  d.rows = d.cols = 28;
  std::vector<uint8_t> img(28 * 28, 0);
  for (int y = 6; y < 22; ++y) img[y * 28 + 14] = 255;
  d.append(img.data(), 1);
  d.append(img.data(), 7);
  const CaptionedImages simple = captioned_mnist(d, CaptionMode::RuSimple);
  CHECK(simple.captions[1] == std::vector<std::string>{"рукописная цифра семь"});
  const CaptionedImages varied = captioned_mnist(d, CaptionMode::RuVaried);
  CHECK(varied.captions[0].size() == static_cast<size_t>(kNumCaptionTemplates));
  CHECK(varied.captions[0][5] == "цифра один, написанная от руки");
}
