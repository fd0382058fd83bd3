// data/plot.cpp: line charts drawn into a grayscale PNG (axes, ticks, a 3x5 pixel font, dashed series).
#include "data/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "data/png.h"

namespace ld::data {

namespace {

// 3x5 glyphs, rows top to bottom, 3 bits each (bit 2 = left column).
struct Glyph {
  char c;
  uint8_t rows[5];
};
constexpr Glyph kFont[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 2, 2}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {':', {0, 2, 0, 2, 0}}, {'%', {5, 1, 2, 4, 5}}, {'(', {1, 2, 2, 2, 1}},
    {')', {4, 2, 2, 2, 4}}, {'/', {1, 1, 2, 4, 4}}, {'=', {0, 7, 0, 7, 0}}, {'_', {0, 0, 0, 0, 7}},
    {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}}, {'D', {6, 5, 5, 5, 6}},
    {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}}, {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}},
    {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 2}}, {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}},
    {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}}, {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}},
    {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}}, {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}},
    {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}}, {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}},
    {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}},
};

struct Canvas {
  GrayImage img;
  Canvas(int64_t w, int64_t h) {
    img.width = w;
    img.height = h;
    img.pixels.assign(static_cast<size_t>(w * h), 255);
  }
  void set(int64_t x, int64_t y, uint8_t v = 0) {
    if (x >= 0 && y >= 0 && x < img.width && y < img.height)
      img.pixels[static_cast<size_t>(y * img.width + x)] = v;
  }
  // Bresenham; `dash` > 0 draws `dash` pixels on, `dash` off.
  void line(int64_t x0, int64_t y0, int64_t x1, int64_t y1, uint8_t v, int dash, int64_t& phase) {
    int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int64_t err = dx + dy;
    while (true) {
      if (dash == 0 || (phase / dash) % 2 == 0) {
        set(x0, y0, v);
        set(x0, y0 + 1, v);  // 2 px thick
      }
      ++phase;
      if (x0 == x1 && y0 == y1) break;
      int64_t e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Text at (x, y) = top-left, `scale` pixels per font pixel.
  void text(int64_t x, int64_t y, const std::string& s, int scale = 2) {
    for (char ch : s) {
      char c = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      for (const Glyph& g : kFont)
        if (g.c == c)
          for (int r = 0; r < 5; ++r)
            for (int col = 0; col < 3; ++col)
              if (g.rows[r] & (4 >> col))
                for (int a = 0; a < scale; ++a)
                  for (int b = 0; b < scale; ++b) set(x + col * scale + a, y + r * scale + b);
      x += 4 * scale;
    }
  }
  static int64_t text_width(const std::string& s, int scale = 2) {
    return static_cast<int64_t>(s.size()) * 4 * scale;
  }
};

// Log ticks: drop those below the last one that is <= lo (the axis starts there).
std::vector<double> trim_log(const std::vector<double>& ticks, double lo) {
  size_t first = 0;
  for (size_t i = 0; i < ticks.size(); ++i)
    if (ticks[i] <= lo * (1 + 1e-9)) first = i;
  return std::vector<double>(ticks.begin() + static_cast<std::ptrdiff_t>(first), ticks.end());
}

std::string fmt(double v) {
  char buf[32];
  if (v != 0 && (std::fabs(v) < 1e-3 || std::fabs(v) >= 1e5))
    std::snprintf(buf, sizeof buf, "%.1e", v);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

std::vector<double> axis_ticks(double lo, double hi, bool log) {
  std::vector<double> ticks;
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo, hi};
  if (log) {
    if (lo <= 0) return {lo, hi};
    if (hi / lo < 4) {  // less than a "2, 5, 10" step: round linear values, placed on the log axis
      std::vector<double> lin = axis_ticks(lo, hi, false);
      if (lin.front() > 0) return lin;
    }
    const int d0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9)),
              d1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
    const bool fine = d1 - d0 < 3;
    for (int d = d0; d <= d1; ++d)
      for (double m : fine ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
        const double v = m * std::pow(10.0, d);
        ticks.push_back(v);
        if (v >= hi) return fine ? trim_log(ticks, lo) : ticks;
      }
    return fine ? trim_log(ticks, lo) : ticks;
  }
  const double raw = (hi - lo) / 5.0, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  const double first = std::floor(lo / step + 1e-9) * step, last = std::ceil(hi / step - 1e-9) * step;
  for (double v = first; v <= last + step * 1e-6; v += step)
    ticks.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return ticks;
}

GrayImage line_plot(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  Canvas cv(o.width, o.height);
  const int64_t left = 70, right = 20, top = 30, bottom = 50;
  const int64_t pw = o.width - left - right, ph = o.height - top - bottom;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  auto ty = [&](double y) { return o.log_y ? std::log10(y) : y; };
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (o.log_y && s.y[i] <= 0)) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, ty(s.y[i]));
      ymax = std::max(ymax, ty(s.y[i]));
    }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + (o.log_y ? 0.3 : 1);
  // round ticks; the axes run from the first tick to the last (y in log10 units on a log axis)
  const std::vector<double> xt = axis_ticks(xmin, xmax, false);
  const std::vector<double> yt =
      o.log_y ? axis_ticks(std::pow(10.0, ymin), std::pow(10.0, ymax), true) : axis_ticks(ymin, ymax, false);
  xmin = xt.front(), xmax = xt.back();
  ymin = ty(yt.front()), ymax = ty(yt.back());
  auto px = [&](double x) { return left + static_cast<int64_t>((x - xmin) / (xmax - xmin) * (pw - 1)); };
  auto py = [&](double y) {
    return top + ph - 1 - static_cast<int64_t>((ty(y) - ymin) / (ymax - ymin) * (ph - 1));
  };
  int64_t ph0 = 0;
  cv.line(left, top, left, top + ph, 0, 0, ph0);  // axes
  cv.line(left, top + ph, left + pw, top + ph, 0, 0, ph0);
  for (double xv : xt) {
    const int64_t x = px(xv);
    cv.line(x, top + ph, x, top + ph + 4, 0, 0, ph0);
    const std::string xs = fmt(xv);
    cv.text(x - Canvas::text_width(xs) / 2, top + ph + 8, xs);
  }
  for (double yv : yt) {
    const int64_t y = py(yv);
    cv.line(left - 4, y, left, y, 0, 0, ph0);
    const std::string ys = fmt(yv);
    cv.text(left - 8 - Canvas::text_width(ys), y - 5, ys);
    for (int64_t gx = left; gx < left + pw; gx += 4) cv.set(gx, y, 200);  // light grid
  }
  cv.text(left + (pw - Canvas::text_width(o.x_label)) / 2, o.height - 18, o.x_label);
  cv.text(4, 8, o.y_label);
  cv.text(left + (pw - Canvas::text_width(o.title)) / 2, 8, o.title);
  const int dashes[] = {0, 6, 2, 10};
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    int64_t phase = 0;
    bool have_prev = false;
    int64_t lx = 0, ly = 0;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (o.log_y && s.y[i] <= 0)) continue;
      const int64_t x = px(s.x[i]), y = py(s.y[i]);
      if (have_prev) cv.line(lx, ly, x, y, static_cast<uint8_t>(k % 2 ? 90 : 0), dashes[k % 4], phase);
      if (s.x.size() < 40) cv.line(x - 2, y, x + 2, y, 0, 0, phase);  // mark sparse points
      lx = x, ly = y, have_prev = true;
    }
    // legend entry, top right
    const int64_t lyy = top + 8 + static_cast<int64_t>(k) * 14, lxx = left + pw - 170;
    int64_t lp = 0;
    cv.line(lxx, lyy + 4, lxx + 24, lyy + 4, static_cast<uint8_t>(k % 2 ? 90 : 0), dashes[k % 4], lp);
    cv.text(lxx + 30, lyy, s.label);
  }
  return cv.img;
}

void write_line_plot(const std::string& path, const std::vector<PlotSeries>& series,
                     const PlotOptions& options) {
  write_png(path, line_plot(series, options));
}

}  // namespace ld::data
