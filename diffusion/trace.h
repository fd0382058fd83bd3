// diffusion/trace.h: the reverse process of Eq. (2) as one picture (`loradiff sample --trace FILE.png`).
//
// Sampling walks x_T (pure noise) -> x_0 in K steps; at each step the model predicts the noise, and from
// it the clean image x0_hat it is heading for (diffusion/sampler.h, SampleStep). The trace keeps, at a few
// evenly spaced steps, both pictures side by side for the first image of each prompt:
//
//   row = one prompt:   x_t(step a) x0_hat(step a) | x_t(step b) x0_hat(step b) | ... | x_0 (the result)
//
// so a student sees the noise fade while the prediction sharpens from a blurry average digit into
// the final one.
#pragma once
#include <vector>

#include "diffusion/sampler.h"

namespace ld::diffusion {

class TraceRecorder {
 public:
  // `columns` recorded steps (>= 1; the first and the last step are always among them) of a run of
  // `total_steps` steps; the first image of each run of `per_prompt` images is traced (rows =
  // batch / per_prompt).
  TraceRecorder(int64_t total_steps, int64_t columns, int64_t per_prompt);
  // The steps that will be recorded, in order (0-based).
  const std::vector<int64_t>& steps() const { return steps_; }
  // Give this to SampleOptions::on_step. Batches of one sampling run arrive in order; `offset` is the
  // index of the batch's first image in the whole run (sample() is called once per batch).
  void record(const SampleStep& st, int64_t offset);
  // After sampling: the final images of the whole run (N, C, H, W). Returns the trace as images
  // (rows * cols, C, H, W) in row-major order, cols = 2 * columns + 1, ready for write_png_grid.
  Tensor grid(const Tensor& final_images, int64_t& rows, int64_t& cols) const;

 private:
  std::vector<int64_t> steps_;
  int64_t per_prompt_;
  // per traced image (by its index in the run): per recorded step, x_t and x0_hat (C, H, W)
  std::vector<std::pair<int64_t, std::vector<Tensor>>> rows_;
};

}  // namespace ld::diffusion
