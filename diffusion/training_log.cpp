// diffusion/training_log.cpp: loss.csv of a run (read back and truncated on resume) and its
// curve loss.png.
#include "diffusion/training_log.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "data/plot.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

namespace ld::diffusion {

static const char* kHeader = "step,loss,lr,grad_norm,heldout_loss,seconds";

TrainingLog::TrainingLog(std::string path) : path_(std::move(path)) {
  if (!std::filesystem::exists(path_)) return;
  std::istringstream in(read_file(path_));
  std::string line;
  std::getline(in, line);
  if (line != kHeader) fail("training log '", path_, "': unexpected header '", line, "'");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    LogRow r{};
    double* fields[] = {&r.loss, &r.lr, &r.grad_norm, &r.heldout_loss, &r.seconds};
    std::istringstream ls(line);
    std::string cell;
    std::getline(ls, cell, ',');
    try {
      r.step = std::stoll(cell);
      for (double* f : fields) {
        std::getline(ls, cell, ',');
        *f = cell.empty() ? NAN : std::stod(cell);
      }
    } catch (const std::exception&) {
      fail("training log '", path_, "': cannot parse line '", line, "'");
    }
    rows_.push_back(r);
  }
}

void TrainingLog::truncate_after(int64_t step) {
  std::erase_if(rows_, [step](const LogRow& r) { return r.step > step; });
}

void TrainingLog::save() const {
  std::ostringstream s;
  s << kHeader << "\n";
  s.precision(7);
  auto cell = [&](double v) {
    s << ",";
    if (std::isfinite(v)) s << v;
  };
  for (const LogRow& r : rows_) {
    s << r.step;
    cell(r.loss);
    cell(r.lr);
    cell(r.grad_norm);
    cell(r.heldout_loss);
    cell(r.seconds);
    s << "\n";
  }
  write_file_atomic(path_, s.str());
}

void TrainingLog::plot(const std::string& png_path) const {
  data::PlotSeries train{"train loss (ema 0.9)", {}, {}}, held{"held-out loss", {}, {}};
  double smooth = NAN;
  for (const LogRow& r : rows_) {
    if (std::isfinite(r.loss)) {
      smooth = std::isfinite(smooth) ? 0.9 * smooth + 0.1 * r.loss : r.loss;
      train.x.push_back(static_cast<double>(r.step));
      train.y.push_back(smooth);
    }
    if (std::isfinite(r.heldout_loss)) {
      held.x.push_back(static_cast<double>(r.step));
      held.y.push_back(r.heldout_loss);
    }
  }
  data::PlotOptions o;
  o.title = "loss (1) vs step";
  o.x_label = "step";
  o.y_label = "mse (log scale)";
  o.log_y = true;  // the loss falls by decades: a log axis keeps the late steps readable
  data::write_line_plot(png_path, {train, held}, o);
}

}  // namespace ld::diffusion
