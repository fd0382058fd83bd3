// diffusion/train_data.cpp: the training and held-out sets, the vocabulary and the sample prompts of
// `loradiff train` (train_data.h).
#include "diffusion/train_data.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "data/captions.h"
#include "data/image_folder.h"
#include "data/mnist.h"
#include "data/sha256.h"
#include "data/tokenizer.h"
#include "data/shapes.h"
#include "data/vocab_build.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace ld::diffusion {

namespace fs = std::filesystem;

namespace {

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

// The SHA-256 of the training images and their captions (or labels): what a resumed run must match.
std::string hash_of(const data::CaptionedImages& d) {
  const Tensor img = d.images.contiguous();
  std::string bytes(reinterpret_cast<const char*>(img.f32()), static_cast<size_t>(img.numel()) * 4);
  for (const auto& choices : d.captions)
    for (const std::string& c : choices) bytes += c + "\n";
  return data::sha256_hex(bytes);
}

data::CaptionedImages subset(const data::CaptionedImages& d, const std::vector<int64_t>& idx) {
  data::CaptionedImages out;
  const int64_t c = d.images.size(1), h = d.images.size(2), w = d.images.size(3);
  out.images = Tensor::empty({static_cast<int64_t>(idx.size()), c, h, w});
  const Tensor src = d.images.contiguous();
  for (size_t k = 0; k < idx.size(); ++k) {
    std::copy_n(src.f32() + idx[k] * c * h * w, c * h * w,
                out.images.f32() + static_cast<int64_t>(k) * c * h * w);
    out.labels.push_back(d.labels[idx[k]]);
    out.captions.push_back(d.captions[idx[k]]);
  }
  return out;
}

data::ImageFolder read_folder(const std::string& dir, const std::string& option, const ModelConfig& cfg,
                              const std::string& config_name, std::vector<std::string>& notes) {
  data::FolderOptions fo;
  fo.size = cfg.image_size;  // every image is fitted into the config's size, as for `lora train`
  // a colour config reads RGB planes (grey files give three equal planes); any other count is refused below
  fo.channels = cfg.image_channels == 3 ? 3 : 1;
  data::ImageFolder f;
  try {
    f = data::read_image_folder(dir, fo);
  } catch (const Error& e) {
    fail(option, ": ", e.what());
  }
  check_image_shape(cfg, f.images.size(2), f.images.size(3), f.images.size(1),
                    "'" + dir + "' (" + option + ")", "--config '" + config_name + "'");
  int64_t resized = 0, inverted = 0;
  int64_t wmin = INT64_MAX, wmax = 0, hmin = INT64_MAX, hmax = 0;
  for (const data::FolderItem& it : f.items) {
    if (it.original_width != cfg.image_size || it.original_height != cfg.image_size) ++resized;
    inverted += it.inverted;
    wmin = std::min(wmin, it.original_width), wmax = std::max(wmax, it.original_width);
    hmin = std::min(hmin, it.original_height), hmax = std::max(hmax, it.original_height);
  }
  if (resized > 0)
    notes.push_back(str_cat(option, " '", dir, "': ", resized, " of ", f.items.size(), " images are not ",
                            cfg.image_size, "x", cfg.image_size, " (widths ", wmin, "..", wmax, ", heights ",
                            hmin, "..", hmax, "); each is fitted into ", cfg.image_size, "x", cfg.image_size,
                            " with its aspect kept, as `lora train` does"));
  if (inverted > 0)
    notes.push_back(str_cat(option, " '", dir, "': ", inverted, " of ", f.items.size(),
                            " images are dark on light and were inverted to light on dark"));
  return f;
}

std::vector<std::string> all_captions(const data::CaptionedImages& d) {
  std::vector<std::string> out;
  for (const auto& choices : d.captions) out.insert(out.end(), choices.begin(), choices.end());
  return out;
}

// --vocab: builtin / auto / a file; "" picks the default for the data.
data::Vocabulary choose_vocab(const TrainOptions& o, bool folder, data::CaptionMode mode,
                              const data::CaptionedImages& train, TrainData& td) {
  const std::string v = o.vocab.empty() ? (folder ? "auto" : "builtin") : o.vocab;
  td.builtin_vocab = false;
  if (v == "builtin") {
    if (!folder && data::is_russian(mode)) return data::russian_caption_vocabulary();
    td.builtin_vocab = true;
    return data::Vocabulary::builtin();
  }
  if (v == "shapes") return data::shapes_vocabulary();  // the whole grammar, whatever --exclude left out
  if (v == "auto") {
    data::VocabBuildOptions vo;
    vo.min_count = o.vocab_min_count;
    vo.max_size = o.vocab_size;
    vo.spare = o.vocab_spare;
    const data::VocabBuildResult r = data::build_vocabulary(all_captions(train), vo);
    td.notes.push_back(r.summary(vo));
    return r.vocab;
  }
  if (!fs::is_regular_file(v))
    fail("--vocab: '", v, "' is not a file; expected builtin, auto, shapes or a word-list file (one word per line)");
  return data::load_vocabulary_list(v);
}

}  // namespace

bool is_mnist_folder(const std::string& dir) {
  std::error_code ec;
  bool any_pair_file = false;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find("-ubyte") != std::string::npos) return true;
    const std::string ext = lower_ext(e.path());
    any_pair_file |= ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".txt";
  }
  return !any_pair_file;  // an empty folder: say how to fetch MNIST
}

TrainData load_train_data(const TrainOptions& o, const ModelConfig& cfg, bool want_heldout) {
  TrainData td;
  if (!fs::is_directory(o.data_dir))
    fail("--data: '", o.data_dir, "' is not a folder (run `loradiff data fetch-mnist --out ", o.data_dir,
         "`, or give a folder of images with same-name .txt captions)");
  td.mnist = is_mnist_folder(o.data_dir);
  const data::CaptionMode mode = data::parse_caption_mode(o.caption_mode);
  if (td.mnist) {
    if (!o.val_dir.empty() || o.val_fraction >= 0)
      fail(o.val_dir.empty() ? "--val-fraction" : "--val", ": '", o.data_dir,
           "' is an MNIST folder, whose test split is the held-out set; --val and --val-fraction are for a "
           "folder of captioned images");
    data::Digits digits = data::load_mnist(o.data_dir, data::Split::Train);
    if (o.max_train_samples > 0 && o.max_train_samples < digits.count()) {
      data::Digits sub;
      sub.rows = digits.rows;
      sub.cols = digits.cols;
      for (int64_t i = 0; i < o.max_train_samples; ++i) sub.append(digits.image(i), digits.labels[i]);
      digits = std::move(sub);
    }
    // IDX digits are never resized: a config of another size or channel count is refused
    check_image_shape(cfg, digits.rows, digits.cols, 1, "'" + o.data_dir + "' (--data)",
                      "--config '" + o.config + "'");
    std::string bytes(digits.pixels.begin(), digits.pixels.end());  // as before --vocab: old runs resume
    bytes.append(digits.labels.begin(), digits.labels.end());
    td.data_hash = data::sha256_hex(bytes);
    td.train = data::captioned_mnist(digits, mode);
    if (want_heldout)
      td.heldout = data::captioned_mnist(
          data::load_mnist(o.data_dir, data::Split::Test),
          data::is_russian(mode) ? data::CaptionMode::RuSimple : data::CaptionMode::Simple);
    for (int d = 0; d < 10; ++d)
      td.sample_prompts.push_back(data::is_russian(mode)
                                      ? std::string("рукописная цифра ") + data::digit_word_ru(d)
                                      : std::string("a handwritten digit ") + data::digit_word(d));
    td.sample_label = td.sample_prompts.front() + " .. " + td.sample_prompts.back() + " (one row each)";
    td.vocab = choose_vocab(o, false, mode, td.train, td);
    if (!o.vocab.empty() && o.vocab != "builtin") {  // a given list may lack template words: say so once
      data::TokenReport report;
      for (const auto& choices : td.train.captions)
        for (const std::string& c : choices) report.add(data::tokenize(td.vocab, c));
      if (!report.ok())
        td.notes.push_back("warning: " +
                           report.warning("MNIST captions (--captions " + o.caption_mode + ")"));
    }
    return td;
  }

  // --- a captioned folder
  if (!o.exclude_digits.empty())
    fail("--exclude-digits: only for MNIST data; '", o.data_dir,
         "' is a folder of captioned images (leave the "
         "images out of the folder instead)");
  if (o.caption_mode != "varied")
    fail("--captions ", o.caption_mode, ": only for MNIST data; the captions of '", o.data_dir,
         "' are its .txt files");
  if (!o.val_dir.empty() && o.val_fraction >= 0)
    fail("--val and --val-fraction: give one (a held-out folder, or the part of --data to hold out)");
  if (o.val_fraction > 0.5 || (o.val_fraction < 0 && o.val_fraction != -1) || std::isnan(o.val_fraction))
    fail("--val-fraction: ", o.val_fraction, " must be in [0, 0.5] (0 = no held-out loss)");
  const data::ImageFolder folder = read_folder(o.data_dir, "--data", cfg, o.config, td.notes);
  data::CaptionedImages all = data::captioned_folder(folder);
  std::vector<int64_t> train_idx, held_idx;
  if (!o.val_dir.empty()) {
    for (int64_t i = 0; i < all.size(); ++i) train_idx.push_back(i);
    td.heldout = data::captioned_folder(read_folder(o.val_dir, "--val", cfg, o.config, td.notes));
  } else {
    const double f = o.val_fraction < 0 ? kDefaultValFraction : o.val_fraction;
    const int64_t n = all.size();
    const int64_t k = f > 0 ? std::max<int64_t>(1, std::llround(f * static_cast<double>(n))) : 0;
    if (k >= n)
      fail("--val-fraction: holding out ", k, " of the ", n, " images of '", o.data_dir,
           "' leaves none to train on; add images or give --val-fraction 0 (no held-out loss)");
    Generator gen(o.seed ^ 0x5EED5EEDull);  // the held-out images follow --seed
    std::vector<int64_t> perm = rand_permutation(n, gen);
    std::vector<char> held(static_cast<size_t>(n), 0);
    for (int64_t j = 0; j < k; ++j) held[static_cast<size_t>(perm[j])] = 1;
    for (int64_t i = 0; i < n; ++i) (held[i] ? held_idx : train_idx).push_back(i);
    td.heldout = subset(all, held_idx);
  }
  if (o.max_train_samples > 0 && o.max_train_samples < static_cast<int64_t>(train_idx.size()))
    train_idx.resize(static_cast<size_t>(o.max_train_samples));
  td.train = subset(all, train_idx);
  td.data_hash = hash_of(td.train);
  td.vocab = choose_vocab(o, true, mode, td.train, td);
  // Every training caption must keep a word (else it trains as the empty caption): errors name the file.
  data::ImageFolder train_items;
  for (int64_t i : train_idx) train_items.items.push_back(folder.items[static_cast<size_t>(i)]);
  if (std::string w = data::check_folder_captions(train_items, td.vocab, o.data_dir); !w.empty())
    td.notes.push_back("warning: " + w);
  // Held-out words the vocabulary lacks: they would be <unk> at sampling time too.
  data::TokenReport held_report;
  for (const auto& choices : td.heldout.captions)
    for (const std::string& c : choices) held_report.add(data::tokenize(td.vocab, c));
  if (!held_report.ok())
    td.notes.push_back(held_report.warning(
        "held-out captions (" + (o.val_dir.empty() ? "part of --data" : "--val '" + o.val_dir + "'") + ")"));
  // Sample grids: the first distinct held-out captions (else training captions), one row each.
  for (const data::CaptionedImages* d : {&td.heldout, &td.train})
    for (const auto& choices : d->captions)
      if (td.sample_prompts.size() < 10 && std::find(td.sample_prompts.begin(), td.sample_prompts.end(),
                                                     choices[0]) == td.sample_prompts.end())
        td.sample_prompts.push_back(choices[0]);
  td.sample_label = "";
  for (const std::string& p : td.sample_prompts)
    td.sample_label += (td.sample_label.empty() ? "" : " | ") + p;
  td.sample_label += " (one row each)";
  return td;
}

}  // namespace ld::diffusion
