// tests/data/test_plot.cpp: line plots (data/plot.h): round tick values on linear and log axes, and a plot
// that draws its series (dark pixels inside the frame) on both kinds of axis.
#include <doctest/doctest.h>

#include <cmath>

#include "data/plot.h"

using namespace ld::data;

namespace {
bool round_value(double v) {  // 1, 2 or 5 times a power of ten (or 0)
  if (v == 0) return true;
  const double m = std::fabs(v) / std::pow(10.0, std::floor(std::log10(std::fabs(v)) + 1e-12));
  for (double r : {1.0, 2.0, 5.0, 10.0})
    if (std::fabs(m - r) < 1e-9 * r) return true;
  return false;
}
}  // namespace

TEST_CASE("linear ticks: round steps, 4-8 of them, covering the data") {
  for (auto [lo, hi] : {std::pair{0.0, 2500.0}, std::pair{0.0213, 0.0877}, std::pair{-3.3, 7.1},
                        std::pair{1.0, 1.001}, std::pair{12345.0, 99999.0}}) {
    CAPTURE(lo);
    CAPTURE(hi);
    const auto t = axis_ticks(lo, hi, false);
    REQUIRE(t.size() >= 4);
    CHECK(t.size() <= 8);
    CHECK(t.front() <= lo);
    CHECK(t.back() >= hi);
    const double step = t[1] - t[0];
    CHECK(round_value(step));
    for (size_t i = 1; i < t.size(); ++i) CHECK(t[i] - t[i - 1] == doctest::Approx(step));
    for (double v : t) CHECK(std::fabs(std::remainder(v, step)) < 1e-9 * std::max(1.0, std::fabs(v)));
  }
  CHECK(axis_ticks(0.0, 2500.0, false) == std::vector<double>{0, 500, 1000, 1500, 2000, 2500});
}

TEST_CASE("log ticks: powers of ten, with 2x and 5x over a short range") {
  const auto wide = axis_ticks(0.003, 12.0, true);
  CHECK(wide == std::vector<double>{1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0});
  const auto narrow = axis_ticks(0.024, 0.31, true);
  REQUIRE(!narrow.empty());
  CHECK(narrow.front() <= 0.024);
  CHECK(narrow.back() >= 0.31);
  CHECK(narrow.front() == doctest::Approx(0.02));
  for (double v : narrow) CHECK(round_value(v));
  CHECK(narrow.size() <= 7);
}

TEST_CASE("a loss curve on a log axis is drawn inside the frame") {
  PlotSeries s{"train", {}, {}};
  for (int i = 1; i <= 100; ++i) {
    s.x.push_back(i * 25.0);
    s.y.push_back(1.0 / i);
  }
  for (bool log : {false, true}) {
    PlotOptions o;
    o.log_y = log;
    const GrayImage img = line_plot({s}, o);
    CHECK(img.width == o.width);
    int64_t dark = 0;
    for (int64_t y = 40; y < o.height - 60; ++y)
      for (int64_t x = 80; x < o.width - 30; ++x) dark += img.pixels[y * img.width + x] < 100;
    CHECK(dark > 200);  // the curve (and nothing but grid lines would be lighter)
  }
}

TEST_CASE("log ticks over less than a factor of 4 are round linear values") {
  const auto t = axis_ticks(1.03, 1.21, true);
  REQUIRE(t.size() >= 4);
  CHECK(t.front() <= 1.03);
  CHECK(t.back() >= 1.21);
  for (double v : t) CHECK(v > 0);
}
