// diffusion/resources.h: checks of a request's size against the model and the machine, made
// before any work starts: the memory a run will need (estimated from the config's sizes;
// formulas in resources.cpp) against MemAvailable, so that `sample --n 100000000` or
// `train --batch 1000000` is refused at once with both numbers instead of ending in
// std::bad_alloc (or the OOM killer) later.
#pragma once
#include <cstdint>
#include <string>

#include "data/mnist.h"
#include "diffusion/config.h"
#include "diffusion/trainer.h"

namespace ld::diffusion {

// Floats of activation memory for one image in one UNet + text-encoder pass: kept for the
// backward pass when `training`, else the working set of a forward pass without gradients.
double activation_floats_per_image(const ModelConfig& cfg, bool training);

// Parameters of a model built from cfg (counted from the layer shapes, without building it).
double parameter_count(const ModelConfig& cfg);

// `train`: parameters x 6 (weights, gradients, two AdamW moments, EMA, the sampling copy) plus
// batch x training activations plus the data set as floats. Throws naming `option` and batch.
void check_train_memory(const ModelConfig& cfg, int64_t batch, int64_t dataset_images,
                        const std::string& option = "--batch");

// Everything about a `train` request that can be checked before a file is written: the sample
// grids' DDIM steps against the config's timesteps and memory (check_train_memory) for a data set of
// `dataset_images` images. (The data's shape is checked against the config where it is read,
// diffusion/train_data.cpp.)
void check_train_request(const TrainOptions& o, const ModelConfig& cfg, int64_t dataset_images);

// `sample` / `eval`: every generated image is kept (x2 for the final concatenation, plus the
// grid for sample) while sampling runs in batches (x2 with guidance: conditional and
// unconditional passes in one batch). `option` names what the user set ("--n", "--n-per-digit").
void check_sample_memory(const ModelConfig& cfg, int64_t total_images, int64_t batch, bool guided,
                         const std::string& option, const std::string& what);

}  // namespace ld::diffusion
