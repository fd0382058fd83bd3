// data/plot.h: small line charts as grayscale PNGs (loss curves, parameters vs quality).
// No plotting library is in Debian's C++ set we use, so this draws the axes, ticks,
// numbers and a legend itself with a tiny 3x5 pixel font. Each series gets its own
// dash pattern so curves stay apart in grayscale.
#pragma once
#include <string>
#include <vector>

#include "data/image.h"

namespace ld::data {

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;  // NaN points are skipped
};

struct PlotOptions {
  std::string title, x_label, y_label;
  int64_t width = 640, height = 400;
  bool log_y = false;  // a log-scale y axis (loss curves: a loss falling by decades stays readable)
};

// Tick values for an axis showing [lo, hi] (lo < hi): "round" numbers a reader takes in at a glance.
// Linear: multiples of 1, 2 or 5 x 10^k, 4-8 of them, the first <= lo and the last >= hi. Log (lo > 0):
// the powers of ten around [lo, hi], with 2x and 5x between them when the range spans fewer than three
// decades, and the linear ticks when hi / lo < 4. The plot's axis runs from the first tick to the last.
std::vector<double> axis_ticks(double lo, double hi, bool log);

GrayImage line_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);
void write_line_plot(const std::string& path, const std::vector<PlotSeries>& series,
                     const PlotOptions& options);

}  // namespace ld::data
