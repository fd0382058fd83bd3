// diffusion/trace.cpp: collecting the denoising trajectory of diffusion/trace.h.
#include "diffusion/trace.h"

#include <algorithm>

#include "tensor/index.h"

namespace ld::diffusion {

TraceRecorder::TraceRecorder(int64_t total_steps, int64_t columns, int64_t per_prompt)
    : per_prompt_(per_prompt) {
  if (total_steps < 1 || columns < 1 || per_prompt < 1)
    fail("trace: ", total_steps, " steps, ", columns, " columns, ", per_prompt, " images per prompt");
  columns = std::min(columns, total_steps);
  for (int64_t k = 0; k < columns; ++k)  // evenly spaced, first and last included
    steps_.push_back(columns == 1 ? total_steps - 1 : k * (total_steps - 1) / (columns - 1));
  steps_.erase(std::unique(steps_.begin(), steps_.end()), steps_.end());
}

void TraceRecorder::record(const SampleStep& st, int64_t offset) {
  const auto at = std::find(steps_.begin(), steps_.end(), st.index);
  if (at == steps_.end()) return;
  const int64_t B = st.x_t.size(0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t image = offset + b;
    if (image % per_prompt_ != 0) continue;  // the first image of each prompt
    auto row = std::find_if(rows_.begin(), rows_.end(), [&](const auto& r) { return r.first == image; });
    if (row == rows_.end()) {
      rows_.push_back({image, {}});
      row = rows_.end() - 1;
    }
    row->second.push_back(st.x_t.select(0, b).clone());
    row->second.push_back(st.x0_hat.select(0, b).clone());
  }
}

Tensor TraceRecorder::grid(const Tensor& final_images, int64_t& rows, int64_t& cols) const {
  rows = static_cast<int64_t>(rows_.size());
  cols = 2 * static_cast<int64_t>(steps_.size()) + 1;
  std::vector<Tensor> cells;
  for (const auto& [image, cells_of_row] : rows_) {
    if (static_cast<int64_t>(cells_of_row.size()) != cols - 1)
      fail("trace: image ", image, " has ", cells_of_row.size() / 2, " of ", steps_.size(),
           " recorded steps");
    for (const Tensor& c : cells_of_row) cells.push_back(c.unsqueeze(0));
    cells.push_back(final_images.select(0, image).unsqueeze(0));
  }
  if (cells.empty()) fail("trace: nothing was recorded");
  return concat(cells, 0);
}

}  // namespace ld::diffusion
