// diffusion/resources.cpp: memory estimates from a config's sizes (resources.h).
//
// The estimates are deliberately simple: sums over the UNet's three levels of (width x pixels)
// and of the attention matrices, each times a count of tensors alive at once, calibrated
// against the peak resident memory of `train` and `sample` with mnist-t2i and mnist-t2i-tiny
// (within about 25 %). They exist to refuse requests that are far beyond the machine, not to
// predict memory to the megabyte.
#include "diffusion/resources.h"

#include <algorithm>
#include <sstream>

#include "data/mnist.h"
#include "data/tokenizer.h"
#include "tensor/error.h"
#include "tensor/memory.h"

namespace ld::diffusion {

namespace {

double resblock_params(double cin, double cout, double time_dim) {
  return 2 * cin + 2 * cout + 9 * cin * cout + cout + 9 * cout * cout + cout + time_dim * cout + cout +
         (cin != cout ? cin * cout + cout : 0);
}

double attnblock_params(double c, double text_dim) {
  // norm, proj_in, proj_out, 3 layer norms, self-attention (q k v o), cross-attention
  // (q, o from c; k, v from the text), feed-forward c -> 4c -> c
  return 2 * c + 2 * (c * c + c) + 6 * c + (4 * c * c + c) + (2 * c * c + 2 * text_dim * c + c) +
         (8 * c * c + 5 * c);
}

}  // namespace

double parameter_count(const ModelConfig& cfg) {
  const double c0 = double(cfg.channels[0]), c1 = double(cfg.channels[1]), c2 = double(cfg.channels[2]);
  const double td = double(cfg.time_dim), xd = double(cfg.text_dim), ic = double(cfg.image_channels);
  double p = double(cfg.time_freq_dim) * td + td + td * td + td;  // time MLP
  p += 9 * ic * c0 + c0 + 9 * c0 * ic + ic + 2 * c0;              // conv_in, conv_out, out_norm
  p += resblock_params(c0, c0, td) + 9 * c0 * c0 + c0;            // down0 + downsample
  p += resblock_params(c0, c1, td) + attnblock_params(c1, xd) + 9 * c1 * c1 + c1;
  p += resblock_params(c1, c2, td) + attnblock_params(c2, xd);
  p += 2 * resblock_params(c2, c2, td) + attnblock_params(c2, xd);  // mid
  p += resblock_params(2 * c2, c2, td) + attnblock_params(c2, xd) + 9 * c2 * c2 + c2;
  p += resblock_params(c2 + c1, c1, td) + attnblock_params(c1, xd) + 9 * c1 * c1 + c1;
  p += resblock_params(c1 + c0, c0, td);
  // text encoder: embeddings (the vocabulary is small: 64 rows is generous), layers, final norm
  const double ff = double(cfg.text_ff_dim);
  p += 64 * xd + double(cfg.max_tokens) * xd + 2 * xd;
  p += double(cfg.text_layers) * (4 * xd + 4 * (xd * xd + xd) + xd * ff + ff + ff * xd + xd);
  return p;
}

double activation_floats_per_image(const ModelConfig& cfg, bool training) {
  const double p0 = double(cfg.image_size) * double(cfg.image_size), p1 = p0 / 4, p2 = p0 / 16;
  const double c0 = double(cfg.channels[0]), c1 = double(cfg.channels[1]), c2 = double(cfg.channels[2]);
  const double h = double(cfg.heads), L = double(data::kContextLength);
  // tensors of (width x pixels) per level: level 0 has two ResBlocks and the resampling convs,
  // level 1 two ResBlocks and two AttnBlocks, level 2 four ResBlocks and three AttnBlocks;
  // attention: heads x P x P (self) and heads x P x L (cross) per AttnBlock
  const double maps = 25 * c0 * p0 + 55 * c1 * p1 + 90 * c2 * p2;
  const double attn = 2 * h * (p1 * p1 + p1 * L) * 2 + 2 * h * (p2 * p2 + p2 * L) * 3;
  const double text = (2 + 12 * double(cfg.text_layers)) * L * double(cfg.text_dim) +
                      2 * double(cfg.text_heads) * L * L * double(cfg.text_layers);
  const double all = maps + attn + text;
  // training keeps every one (and gradients during backward); a forward pass without gradients
  // holds a few at a time. Measured (peak RSS slope per image, 2026-11-29): training 5.4 MB
  // (tiny) and 15.3 MB (mnist-t2i) against 5.4 and 16.4 estimated; sampling with guidance
  // 4.7 MB per image (mnist-t2i) against 5.1 estimated.
  return training ? 1.6 * all : 0.25 * all;
}

void check_train_memory(const ModelConfig& cfg, int64_t batch, int64_t dataset_images,
                        const std::string& option) {
  const double params = parameter_count(cfg);
  const double act = activation_floats_per_image(cfg, true);
  const double image = double(cfg.image_channels) * double(cfg.image_size) * double(cfg.image_size);
  const double need = 4 * (6 * params + double(batch) * act + double(dataset_images) * image);
  std::ostringstream f;
  f << "4 bytes x (6 x " << static_cast<int64_t>(params) << " parameters + " << option << " " << batch
    << " x " << static_cast<int64_t>(act) << " activation floats per image + " << dataset_images
    << " images x " << static_cast<int64_t>(image) << " pixels)";
  check_memory(need, str_cat(option, " ", batch), f.str());
}

void check_train_request(const TrainOptions& o, const ModelConfig& cfg, int64_t dataset_images) {
  if (o.sample_every > 0 && o.sample_steps > cfg.timesteps)
    fail("--sample-steps: ", o.sample_steps, " is more than the ", cfg.timesteps, " timesteps of --config ",
         o.config, " (the first sample grid would fail after --sample-every steps)");
  check_train_memory(cfg, o.batch, dataset_images);
}

void check_sample_memory(const ModelConfig& cfg, int64_t total_images, int64_t batch, bool guided,
                         const std::string& option, const std::string& what) {
  const double image = double(cfg.image_channels) * double(cfg.image_size) * double(cfg.image_size);
  const double b = double(std::min(batch, total_images)) * (guided ? 2 : 1);
  const double act = activation_floats_per_image(cfg, false);
  // kept images (floats) x 2 for the final concatenation; the 8-bit grid at 2x upscale, three
  // times (the grid, the PNG filter buffer, the PNG); tokens and the caption: measured 18 kB per
  // 28x28 image (mnist-t2i, 4096 images), estimated 16.5 kB
  const double cell = double(2 * cfg.image_size + 1) * double(2 * cfg.image_size + 1);
  const double per_image = 4 * 2 * image + 3 * cell + 4 * data::kContextLength + 64;
  const double need = double(total_images) * per_image + 4 * (b * act + parameter_count(cfg));
  std::ostringstream f;
  f << total_images << " images x " << static_cast<int64_t>(per_image) << " bytes kept + 4 bytes x ("
    << std::min(batch, total_images) << " images per batch" << (guided ? " x 2 for guidance" : "") << " x "
    << static_cast<int64_t>(act) << " activation floats + the weights)";
  check_memory(need, str_cat(option, " ", what), f.str());
}

}  // namespace ld::diffusion
