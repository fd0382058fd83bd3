// data/image_folder.cpp: reading an image + caption folder (rules in image_folder.h).
#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "data/image.h"
#include "data/tokenizer.h"
#include "data/utf8.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

namespace ld::data {

namespace fs = std::filesystem;

InvertMode parse_invert_mode(const std::string& name) {
  if (name == "auto") return InvertMode::Auto;
  if (name == "always") return InvertMode::Always;
  if (name == "never") return InvertMode::Never;
  fail("invert mode '", name, "', expected auto, always or never");
}

float border_median(const std::vector<float>& pixels, int64_t width, int64_t height) {
  const int64_t ring = std::max<int64_t>(1, std::min(width, height) / 16);
  std::vector<float> border;
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      if (x < ring || y < ring || x >= width - ring || y >= height - ring)
        border.push_back(pixels[y * width + x]);
  if (border.empty()) return 0;
  std::nth_element(border.begin(), border.begin() + static_cast<std::ptrdiff_t>(border.size() / 2),
                   border.end());
  return border[border.size() / 2];
}

bool is_dark_on_light(const std::vector<float>& pixels, int64_t width, int64_t height) {
  return border_median(pixels, width, height) > 0.5f;
}

static std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

static bool is_image_ext(const std::string& ext) {
  const std::string e = lower(ext);
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp";
}

// Trim, collapse whitespace runs (newlines included) to one space, drop a UTF-8 byte-order mark.
static std::string clean_caption(std::string text) {
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      out += c;
      space = false;
    }
  }
  return out;
}

ImageFolder read_image_folder(const std::string& dir, const FolderOptions& opt) {
  if (opt.size <= 0) fail("image folder '", dir, "': image size ", opt.size, " must be positive");
  if (opt.channels != 1 && opt.channels != 3)
    fail("image folder '", dir, "': ", opt.channels, " channels asked for, expected 1 (gray) or 3 (RGB)");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("image folder '", dir, "': not a folder");
  // stem -> image paths / caption path, sorted by stem so the order is the same on every machine
  std::map<std::string, std::vector<fs::path>> images;
  std::map<std::string, fs::path> captions;
  std::vector<std::string> problems;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const fs::path& p = e.path();
    const std::string fname = p.filename().string();
    if (fname.empty() || fname[0] == '.') continue;
    if (!e.is_regular_file()) {
      problems.push_back(str_cat("'", p.string(), "': not a regular file (sub-folders are not read)"));
      continue;
    }
    const std::string ext = p.extension().string();
    if (is_image_ext(ext))
      images[p.stem().string()].push_back(p);
    else if (lower(ext) == ".txt")
      captions[p.stem().string()] = p;
    else
      problems.push_back(str_cat(
          "'", p.string(), "': unexpected file; expected .png .jpg .jpeg .bmp images and .txt captions"));
  }
  for (const auto& [stem, paths] : images) {
    if (paths.size() > 1)
      problems.push_back(str_cat("'", paths[0].string(), "' and '", paths[1].string(),
                                 "': two images share one caption name; rename one"));
    if (!captions.count(stem))
      problems.push_back(str_cat("'", paths[0].string(), "': image without caption (expected '",
                                 (fs::path(dir) / (stem + ".txt")).string(), "')"));
  }
  for (const auto& [stem, path] : captions)
    if (!images.count(stem))
      problems.push_back(str_cat("'", path.string(), "': caption without image (expected ", stem,
                                 ".png, .jpg, .jpeg or .bmp)"));

  ImageFolder out;
  std::vector<float> pixels;  // N x channels x size x size in [0,1]
  for (const auto& [stem, paths] : images) {
    if (!captions.count(stem) || paths.size() > 1) continue;
    FolderItem item;
    item.image_path = paths[0].string();
    item.caption_path = captions[stem].string();
    try {
      const std::string raw = read_file(item.caption_path);
      check_utf8(raw, "'" + item.caption_path + "'");
      item.caption = clean_caption(raw);
      if (item.caption.empty()) {
        problems.push_back("'" + item.caption_path + "': empty caption");
        continue;
      }
      if (split_words(item.caption).empty()) {
        problems.push_back("'" + item.caption_path + "': caption '" + printable(item.caption) +
                           "' has no words (only punctuation, symbols or emoji), so it would train as the "
                           "empty caption");
        continue;
      }
      if (opt.channels == 3) {
        const std::vector<FloatImage> planes = decode_image_rgb(read_file(item.image_path), item.image_path);
        item.original_width = planes[0].width;
        item.original_height = planes[0].height;
        for (const FloatImage& plane : planes) {
          const FloatImage fitted =
              fit_square(plane, opt.size, border_median(plane.pixels, plane.width, plane.height));
          pixels.insert(pixels.end(), fitted.pixels.begin(), fitted.pixels.end());
        }
        out.items.push_back(std::move(item));
        continue;
      }
      FloatImage img = decode_image(read_file(item.image_path), item.image_path);
      item.original_width = img.width;
      item.original_height = img.height;
      const bool dark_on_light = is_dark_on_light(img.pixels, img.width, img.height);
      item.inverted = opt.invert == InvertMode::Always || (opt.invert == InvertMode::Auto && dark_on_light);
      if (item.inverted)
        for (float& v : img.pixels) v = 1.0f - v;
      const FloatImage fitted = fit_square(img, opt.size, border_median(img.pixels, img.width, img.height));
      pixels.insert(pixels.end(), fitted.pixels.begin(), fitted.pixels.end());
      out.items.push_back(std::move(item));
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  const auto n = static_cast<int64_t>(out.items.size());
  if (problems.empty() && n < opt.min_images)
    problems.push_back("found " + std::to_string(n) + " image/caption pairs, expected at least " +
                       std::to_string(opt.min_images));
  if (!problems.empty()) {
    std::string msg = "image folder '" + dir + "': " + std::to_string(problems.size()) + " problem" +
                      (problems.size() > 1 ? "s" : "") + ":";
    for (const std::string& p : problems) msg += "\n  " + p;
    fail(msg);
  }
  out.images = Tensor::empty({n, opt.channels, opt.size, opt.size});
  float* dst = out.images.f32();
  for (size_t i = 0; i < pixels.size(); ++i) dst[i] = 2.0f * pixels[i] - 1.0f;
  return out;
}

std::string check_folder_captions(const ImageFolder& folder, const Vocabulary& vocab,
                                  const std::string& dir) {
  TokenReport report;
  for (const FolderItem& item : folder.items) {
    const Tokens t = tokenize(vocab, item.caption);
    if (t.no_known_word()) {
      std::string unknown;
      for (const auto& w : t.unknown_words)
        unknown += (unknown.empty() ? "'" : ", '") + printable(w, 40) + "'";
      fail("'", item.caption_path, "': caption '", printable(item.caption),
           "' has no word the model's vocabulary ", "knows (",
           unknown.empty() ? "no words" : "unknown: " + unknown,
           "), so it would train as the empty caption");
    }
    report.add(t);
  }
  return report.warning("captions in '" + dir + "'");
}

}  // namespace ld::data
