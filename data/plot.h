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
  bool log_y = false;
};

GrayImage line_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);
void write_line_plot(const std::string& path, const std::vector<PlotSeries>& series,
                     const PlotOptions& options);

}  // namespace ld::data
