// nn/progress.cpp: see progress.h.
#include "nn/progress.h"

#include <cstdio>

namespace ld::nn {

ProgressBar::ProgressBar(std::ostream* out, int64_t total, std::string label)
    : out_(out), total_(total), label_(std::move(label)), start_(std::chrono::steady_clock::now()) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string ProgressBar::format_duration(double seconds) {
  const long s = seconds < 0 ? 0 : static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

void ProgressBar::update(int64_t done, double loss, const std::string& extra) {
  done_ = done, loss_ = loss, extra_ = extra;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && std::chrono::duration<double>(now - last_draw_).count() < 0.2 && done_ < total_) return;
  last_draw_ = now;
  draw();
}

void ProgressBar::draw() {
  if (!out_) return;
  drawn_ = true;
  const double t = elapsed_seconds();
  const double rate = t > 0 ? static_cast<double>(done_) / t : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  constexpr int kWidth = 24;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done_ / total_) : kWidth;
  char nums[160];
  std::snprintf(nums, sizeof nums, " %*lld/%lld  loss %.4f  %.1f it/s  ETA %s",
                static_cast<int>(std::to_string(total_).size()), static_cast<long long>(done_),
                static_cast<long long>(total_), loss_, rate, format_duration(eta).c_str());
  *out_ << "\r" << label_ << (label_.empty() ? "" : " ") << "[" << std::string(filled, '#')
        << std::string(kWidth - filled, '.') << "]" << nums << (extra_.empty() ? "" : "  " + extra_) << "   "
        << std::flush;
}

void ProgressBar::finish() {
  draw();
  if (out_) *out_ << "\n" << std::flush;
  finished_ = true;
}

ProgressBar::~ProgressBar() {
  if (out_ && drawn_ && !finished_) *out_ << "\n" << std::flush;
}

}  // namespace ld::nn
