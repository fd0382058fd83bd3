// diffusion/training_log.h: the loss log of a run (loss.csv) and its curve (loss.png).
// One row per logged step; held-out rows carry only heldout_loss. On resume the rows
// after the resumed step are dropped, so the log matches the weights.
#pragma once
#include <string>
#include <vector>

namespace ld::diffusion {

struct LogRow {
  int64_t step;
  double loss, lr, grad_norm, heldout_loss, seconds;  // NaN = not measured at this row
};

class TrainingLog {
 public:
  explicit TrainingLog(std::string csv_path);  // reads the existing file, if any
  void add(const LogRow& row) { rows_.push_back(row); }
  void truncate_after(int64_t step);
  void save() const;                            // atomic
  void plot(const std::string& png_path) const;  // training loss (smoothed) and held-out loss vs step
  const std::vector<LogRow>& rows() const { return rows_; }

 private:
  std::string path_;
  std::vector<LogRow> rows_;
};

}  // namespace ld::diffusion
