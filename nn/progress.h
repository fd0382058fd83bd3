// nn/progress.h: a one-line progress bar for training loops, e.g.
//   [#########.........]  450/1000  loss 0.1234  41.2 it/s  ETA 0:13
// Redrawn in place (carriage return) at most every 0.2 s; finish() ends the line.
// Writes nothing when given a null stream.
#pragma once
#include <chrono>
#include <ostream>
#include <string>

namespace ld::nn {

class ProgressBar {
 public:
  ProgressBar(std::ostream* out, int64_t total_steps, std::string label = "");
  // Ends a drawn line that finish() did not: an error or Ctrl-C (tensor/interrupt.h) leaving the
  // loop then prints its message on a line of its own.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // After step `done` (1-based) with the latest loss; extra is appended as is.
  void update(int64_t done, double loss, const std::string& extra = "");
  void finish();  // draw the final state and end the line
  double elapsed_seconds() const;
  // "m:ss" or "h:mm:ss"
  static std::string format_duration(double seconds);

 private:
  void draw();
  std::ostream* out_;
  int64_t total_, done_ = 0;
  double loss_ = 0;
  std::string label_, extra_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false, finished_ = false;
};

}  // namespace ld::nn
