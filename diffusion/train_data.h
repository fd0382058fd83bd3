// diffusion/train_data.h: what `loradiff train` trains on (docs/data.md, "Training a base model").
//
// --data is either
//   an MNIST folder (the IDX files of `loradiff data fetch-mnist`): digits captioned by --captions
//     (simple, varied, or Russian: ru, ru-simple), the test split held out; IDX images are never
//     resized, so a config whose image_size / image_channels differ is refused; or
//   a captioned folder (image + same-name .txt, data/image_folder.h, the loader `lora train`
//     uses): every image fitted to the config's image_size; held out: the folder --val, or
//     --val-fraction of the images (default 0.05, at least one) drawn by --seed.
// The vocabulary (--vocab): "builtin" (data/vocab.txt, the default for English MNIST captions;
// --captions ru defaults to the Russian template vocabulary, data/captions.h), "auto" (built from
// the training captions, data/vocab_build.h; the default for a folder) or a word-list file.
#pragma once
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/vocab.h"
#include "diffusion/config.h"
#include "diffusion/trainer.h"

namespace ld::diffusion {

inline constexpr double kDefaultValFraction = 0.05;

struct TrainData {
  bool mnist = true;
  data::CaptionedImages train;    // the training set, after --max-train-samples
  data::CaptionedImages heldout;  // for the held-out loss (MNIST: only when want_heldout)
  data::Vocabulary vocab;
  bool builtin_vocab = true;  // data/vocab.txt: runs saved before --vocab existed resume
  std::string data_hash;      // the run's "--data" setup value: the training images and labels/captions
  std::vector<std::string> sample_prompts;  // one sample-grid row each
  std::string sample_label;                 // the grids' "prompt" parameter
  std::vector<std::string> notes;           // lines for the run's log (vocabulary, resizing, unknown words)
};

// True when `dir` holds MNIST IDX files (train-images-idx3-ubyte.gz or unpacked).
bool is_mnist_folder(const std::string& dir);

// Reads and checks everything before the run folder is touched; errors name the file or option.
TrainData load_train_data(const TrainOptions& o, const ModelConfig& cfg, bool want_heldout);

}  // namespace ld::diffusion
