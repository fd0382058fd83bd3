// data/shapes.cpp: the shapes data set's generator, caption grammar and rule-based judge (shapes.h).
#include "data/shapes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/png.h"
#include "data/tokenizer.h"
#include "data/utf8.h"
#include "tensor/error.h"
#include "tensor/file_batch.h"
#include "tensor/file_io.h"

namespace ld::data {

namespace {

constexpr const char* kColourNames[kNumColours] = {"red", "green", "blue", "yellow", "cyan", "magenta"};
constexpr const char* kKindNames[kNumKinds] = {"circle", "square", "triangle", "cross"};
constexpr const char* kPositionNames[kNumPositions] = {
    "top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right"};
constexpr const char* kRelationNames[4] = {"left of", "right of", "above", "below"};

std::string join_names(const char* const* names, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + names[i];
  return s;
}

int find_name(const char* const* names, int n, const std::string& w) {
  for (int i = 0; i < n; ++i)
    if (w == names[i]) return i;
  return -1;
}

// Box corner for a shape of side s in grid cell index `cell` (0..2) along one axis, jitter in -1..1:
// centred in the cell, then moved inward just enough to lie in the image.
int64_t place(int cell, int64_t s, int64_t jitter) {
  const double centre = (cell + 0.5) * double(kShapesImageSize) / 3.0;
  const int64_t x0 = std::llround(centre - double(s) / 2.0) + jitter;
  return std::clamp<int64_t>(x0, 0, kShapesImageSize - s);
}

ShapeObject draw_object(Generator& gen, ShapeColour c, ShapeKind k, int position) {
  ShapeObject o;
  o.colour = c;
  o.kind = k;
  o.size = gen.next_int(2) == 0 ? ShapeSize::Small : ShapeSize::Large;
  o.position = position;
  o.x0 = place(position % 3, o.side(), gen.next_int(3) - 1);
  o.y0 = place(position / 3, o.side(), gen.next_int(3) - 1);
  return o;
}

// Boxes at least one pixel apart (not touching, also diagonally), so the two components never merge.
bool apart(const ShapeObject& a, const ShapeObject& b) {
  return a.x0 + a.side() < b.x0 || b.x0 + b.side() < a.x0 || a.y0 + a.side() < b.y0 || b.y0 + b.side() < a.y0;
}

using Pair = std::pair<ShapeColour, ShapeKind>;

std::vector<Pair> allowed_pairs(const ShapeExclusions& e) {
  std::vector<Pair> out;
  for (int c = 0; c < kNumColours; ++c)
    for (int k = 0; k < kNumKinds; ++k)
      if (!e.pair[c][k]) out.push_back({ShapeColour(c), ShapeKind(k)});
  return out;
}

ShapeScene draw_scene(Generator& gen, bool two, const std::vector<Pair>& pairs) {
  ShapeScene scene;
  const Pair a = pairs[static_cast<size_t>(gen.next_int(static_cast<int64_t>(pairs.size())))];
  if (!two) {
    scene.objects.push_back(
        draw_object(gen, a.first, a.second, static_cast<int>(gen.next_int(kNumPositions))));
    return scene;
  }
  std::vector<Pair> others;
  for (const Pair& p : pairs)
    if (p.first != a.first) others.push_back(p);
  if (others.empty()) fail("shapes: two-shape scenes need two colours, but the exclusions leave only one");
  const Pair b = others[static_cast<size_t>(gen.next_int(static_cast<int64_t>(others.size())))];
  scene.relation = ShapeRelation(gen.next_int(4));
  const bool horizontal = scene.relation == ShapeRelation::LeftOf || scene.relation == ShapeRelation::RightOf;
  const bool first_before = scene.relation == ShapeRelation::LeftOf || scene.relation == ShapeRelation::Above;
  static constexpr int kOrdered[3][2] = {{0, 1}, {0, 2}, {1, 2}};
  for (int attempt = 0; attempt < 10000; ++attempt) {
    const int line = static_cast<int>(gen.next_int(3));  // the shared row or column
    const auto& cells = kOrdered[gen.next_int(3)];
    const int ca = first_before ? cells[0] : cells[1], cb = first_before ? cells[1] : cells[0];
    const int pa = horizontal ? line * 3 + ca : ca * 3 + line,
              pb = horizontal ? line * 3 + cb : cb * 3 + line;
    ShapeObject oa = draw_object(gen, a.first, a.second, pa), ob = draw_object(gen, b.first, b.second, pb);
    if (!apart(oa, ob)) continue;
    scene.objects = {oa, ob};
    return scene;
  }
  fail("shapes: no placement found for two shapes");  // cannot happen: two small shapes always fit
}

}  // namespace

const char* colour_name(ShapeColour c) { return kColourNames[int(c)]; }
const char* kind_name(ShapeKind k) { return kKindNames[int(k)]; }
const char* size_name(ShapeSize s) { return s == ShapeSize::Small ? "small" : "large"; }
const char* position_name(int p) {
  if (p < 0 || p >= kNumPositions) fail("shapes: position ", p, " is not a grid cell 0..8");
  return kPositionNames[p];
}
const char* relation_name(ShapeRelation r) { return kRelationNames[int(r)]; }

std::array<uint8_t, 3> colour_rgb(ShapeColour c) {
  static constexpr std::array<uint8_t, 3> rgb[kNumColours] = {{255, 0, 0},   {0, 255, 0},   {0, 0, 255},
                                                              {255, 255, 0}, {0, 255, 255}, {255, 0, 255}};
  return rgb[int(c)];
}

std::vector<std::string> shapes_words() {
  return {"a",       "small",  "large",  "red",      "green", "blue",  "yellow", "cyan",
          "magenta", "circle", "square", "triangle", "cross", "at",    "the",    "top",
          "bottom",  "left",   "right",  "centre",   "of",    "above", "below"};
}

Vocabulary shapes_vocabulary() {
  std::vector<std::string> words{"<pad>", "<bos>", "<unk>"};
  for (const std::string& w : shapes_words()) words.push_back(w);
  return Vocabulary::from_words(words);
}

bool ShapeExclusions::any() const {
  for (const auto& row : pair)
    for (bool b : row)
      if (b) return true;
  return false;
}

std::vector<std::string> ShapeExclusions::names() const {
  std::vector<std::string> out;
  for (int c = 0; c < kNumColours; ++c)
    for (int k = 0; k < kNumKinds; ++k)
      if (pair[c][k]) out.push_back(std::string(kColourNames[c]) + " " + kKindNames[k]);
  return out;
}

ShapeExclusions parse_shape_exclusions(const std::vector<std::string>& items, const std::string& option) {
  ShapeExclusions e;
  for (const std::string& item : items) {
    std::istringstream in(item);
    std::vector<std::string> w;
    for (std::string s; in >> s;) {
      for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      w.push_back(s);
    }
    const std::string shown = "'" + printable(item, 60) + "'";
    const std::string expected = " (expected a shape, " + join_names(kKindNames, kNumKinds) +
                                 ", or a colour and a shape such as 'red circle')";
    if (w.empty() || w.size() > 2) fail(option, " ", shown, ": not a shape or a colour-shape pair", expected);
    const int k = find_name(kKindNames, kNumKinds, w.back());
    if (k < 0)
      fail(option, " ", shown, ": '", printable(w.back(), 40), "' is not a shape",
           find_name(kColourNames, kNumColours, w.back()) >= 0 && w.size() == 1
               ? " (a colour alone cannot be left out)"
               : "",
           expected);
    if (w.size() == 1) {
      for (auto& row : e.pair) row[k] = true;
      continue;
    }
    const int c = find_name(kColourNames, kNumColours, w[0]);
    if (c < 0)
      fail(option, " ", shown, ": '", printable(w[0], 40), "' is not a colour (expected ",
           join_names(kColourNames, kNumColours), ")");
    e.pair[c][k] = true;
  }
  return e;
}

ShapeScene make_shape_scene(uint64_t seed, int64_t index, const ShapesOptions& options) {
  if (index < 0) fail("shapes: scene index ", index, " must not be negative");
  if (!(options.two_shape_fraction >= 0.0 && options.two_shape_fraction <= 1.0))
    fail("shapes: two-shape fraction ", options.two_shape_fraction, " is outside [0, 1]");
  const std::vector<Pair> pairs = allowed_pairs(options.exclude);
  if (pairs.empty()) fail("shapes: the exclusions leave no colour-shape pair to draw");
  if (options.two_shape_fraction > 0) {
    bool two_colours = false;
    for (const Pair& p : pairs) two_colours |= p.first != pairs[0].first;
    if (!two_colours)
      fail("shapes: two-shape scenes need two colours, but the exclusions leave only ",
           colour_name(pairs[0].first), " (use a two-shape fraction of 0)");
  }
  // Each scene its own stretch of Philox counters: scene i does not depend on how many came before.
  Generator gen;
  gen.set_state(seed, static_cast<uint64_t>(index) << 24);
  const bool two = gen.next_uniform() < options.two_shape_fraction;
  return draw_scene(gen, two, pairs);
}

ShapeScene random_prompt_scene(Generator& gen, bool two_shapes) {
  return draw_scene(gen, two_shapes, allowed_pairs(ShapeExclusions{}));
}

bool shape_covers(const ShapeObject& o, int64_t x, int64_t y) {
  const double s = double(o.side());
  const double u = (double(x - o.x0) + 0.5) / s, v = (double(y - o.y0) + 0.5) / s;
  if (u < 0 || u >= 1 || v < 0 || v >= 1) return false;
  switch (o.kind) {
    case ShapeKind::Square:
      return true;
    case ShapeKind::Circle:
      return (u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5) <= 0.25;
    case ShapeKind::Triangle:  // apex at the top centre, base the bottom edge; half a pixel wider so
                               // the apex row is drawn
      return std::fabs(u - 0.5) <= v / 2 + 0.5 / s;
    case ShapeKind::Cross:  // arms a third of the side wide
      return std::fabs(u - 0.5) <= 1.0 / 6 || std::fabs(v - 0.5) <= 1.0 / 6;
  }
  return false;
}

RgbImage render_scene(const ShapeScene& scene) {
  RgbImage img{kShapesImageSize, kShapesImageSize,
               std::vector<uint8_t>(static_cast<size_t>(3 * kShapesImageSize * kShapesImageSize), 0)};
  for (const ShapeObject& o : scene.objects) {
    const auto rgb = colour_rgb(o.colour);
    for (int64_t y = o.y0; y < o.y0 + o.side(); ++y)
      for (int64_t x = o.x0; x < o.x0 + o.side(); ++x)
        if (shape_covers(o, x, y)) std::copy(rgb.begin(), rgb.end(), img.at(x, y));
  }
  return img;
}

std::string scene_caption(const ShapeScene& scene) {
  if (scene.objects.size() == 1) {
    const ShapeObject& o = scene.objects[0];
    return str_cat("a ", size_name(o.size), " ", colour_name(o.colour), " ", kind_name(o.kind), " at the ",
                   position_name(o.position));
  }
  if (scene.objects.size() != 2) fail("shapes: a scene of ", scene.objects.size(), " shapes has no caption");
  const ShapeObject &a = scene.objects[0], &b = scene.objects[1];
  return str_cat("a ", colour_name(a.colour), " ", kind_name(a.kind), " ", relation_name(scene.relation),
                 " a ", colour_name(b.colour), " ", kind_name(b.kind));
}

bool ShapesCaption::uses(const ShapeExclusions& e) const {
  for (const Object& o : objects)
    if (e.excluded(o.colour, o.kind)) return true;
  return false;
}

ShapesCaption parse_shapes_caption(const std::string& caption) {
  const std::vector<std::string> w = split_words(caption);
  size_t i = 0;
  auto bad = [&](const std::string& expected) {
    fail("shapes caption '", printable(caption, 80), "': ",
         i < w.size() ? "word " + std::to_string(i + 1) + " '" + printable(w[i], 40) + "'"
                      : std::string("the end"),
         " where ", expected,
         " was expected (grammar: 'a SIZE COLOUR SHAPE at the POSITION' or 'a COLOUR SHAPE "
         "RELATION a COLOUR SHAPE')");
  };
  auto word = [&](const char* expected) {
    if (i >= w.size() || w[i] != expected) bad(std::string("'") + expected + "'");
    ++i;
  };
  auto colour = [&] {
    const int c = i < w.size() ? find_name(kColourNames, kNumColours, w[i]) : -1;
    if (c < 0) bad("a colour (" + join_names(kColourNames, kNumColours) + ")");
    ++i;
    return ShapeColour(c);
  };
  auto kind = [&] {
    const int k = i < w.size() ? find_name(kKindNames, kNumKinds, w[i]) : -1;
    if (k < 0) bad("a shape (" + join_names(kKindNames, kNumKinds) + ")");
    ++i;
    return ShapeKind(k);
  };
  ShapesCaption out;
  word("a");
  if (i < w.size() && (w[i] == "small" || w[i] == "large")) {
    ShapesCaption::Object o{};
    o.size = w[i] == "small" ? ShapeSize::Small : ShapeSize::Large;
    ++i;
    o.colour = colour();
    o.kind = kind();
    word("at");
    word("the");
    std::string rest;
    for (size_t j = i; j < w.size(); ++j) rest += (j == i ? "" : " ") + w[j];
    const int p = find_name(kPositionNames, kNumPositions, rest);
    if (p < 0) bad("a position (" + join_names(kPositionNames, kNumPositions) + ")");
    o.position = p;
    out.objects.push_back(o);
    return out;
  }
  if (i < w.size() && find_name(kColourNames, kNumColours, w[i]) < 0)
    bad("a size (small, large) or a colour");
  ShapesCaption::Object a{}, b{};
  a.colour = colour();
  a.kind = kind();
  std::string rel = i < w.size() ? w[i] : "";
  if (rel == "left" || rel == "right") {
    ++i;
    word("of");
    rel += " of";
  } else if (rel == "above" || rel == "below") {
    ++i;
  } else {
    bad("a relation (" + join_names(kRelationNames, 4) + ")");
  }
  out.relation = ShapeRelation(find_name(kRelationNames, 4, rel));
  word("a");
  b.colour = colour();
  b.kind = kind();
  if (i < w.size()) bad("the end of the caption");
  out.objects = {a, b};
  return out;
}

int64_t write_shapes_folder(const std::string& dir, int64_t n, uint64_t seed, const ShapesOptions& options,
                            const std::string& option) {
  namespace fs = std::filesystem;
  if (n < 1 || n > 100000) fail(option == "--out" ? "--n" : "n", ": ", n, " is outside [1, 100000]");
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) fail(option, " '", dir, "': exists and is not a folder");
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string()[0] != '.' || e.path().filename() == kShapesManifest)
        fail(option, " '", dir, "': the folder is not empty; choose a new one (nothing was written)");
  }
  make_shape_scene(seed, 0, options);  // option errors (everything excluded) before the folder is made
  fs::create_directories(dir);
  int64_t two = 0;
  // written in groups, each file still atomic, with one sync per group instead of one per file
  std::vector<std::pair<std::string, std::string>> files;
  for (int64_t i = 0; i < n; ++i) {
    const ShapeScene scene = make_shape_scene(seed, i, options);
    two += scene.objects.size() == 2;
    char stem[32];
    std::snprintf(stem, sizeof stem, "shape_%05lld", static_cast<long long>(i));
    files.emplace_back((fs::path(dir) / (std::string(stem) + ".png")).string(),
                       encode_png(render_scene(scene)));
    files.emplace_back((fs::path(dir) / (std::string(stem) + ".txt")).string(), scene_caption(scene) + "\n");
    if (files.size() >= 256 || i + 1 == n) {
      write_files_atomic(files);
      files.clear();
    }
  }
  nlohmann::json m;
  m["format"] = "loradiff-shapes";
  m["version"] = 1;
  m["n"] = n;
  m["seed"] = seed;
  m["two_shape_fraction"] = options.two_shape_fraction;
  m["exclude"] = options.exclude.names();
  m["image_size"] = kShapesImageSize;
  m["two_shape_images"] = two;
  write_file_atomic((fs::path(dir) / kShapesManifest).string(), m.dump(2) + "\n");
  return two;
}

// ---- the judge ----

namespace {

// -1 background, else the colour index.
int classify_pixel(const uint8_t* p) {
  const int m = std::max({p[0], p[1], p[2]});
  if (m < 128) return -1;
  int best = 0;
  double best_d = 1e9;
  for (int c = 0; c < kNumColours; ++c) {
    const auto rgb = colour_rgb(ShapeColour(c));
    double d = 0;
    for (int k = 0; k < 3; ++k) {
      const double diff = double(p[k]) / m - rgb[k] / 255.0;
      d += diff * diff;
    }
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

struct Features {
  double fill, balance, corners;
};

// Features of a mask (w x h, row-major) that tell the four shapes apart at any size: the filled fraction
// of the box, the share of the area in the top half (a triangle's is about a quarter), and the filled
// fraction of the four corner boxes (a square's all, a cross's none).
Features shape_features(const std::vector<uint8_t>& m, int64_t w, int64_t h) {
  double area = 0, top = 0, bottom = 0, corner = 0, corner_total = 0;
  const int64_t cw = std::max<int64_t>(1, (w + 2) / 4), ch = std::max<int64_t>(1, (h + 2) / 4);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const double v = m[y * w + x];
      area += v;
      // rows above the middle count to the top, below to the bottom, the middle row half each
      if (2 * y + 1 < h)
        top += v;
      else if (2 * y + 1 > h)
        bottom += v;
      else
        top += v / 2, bottom += v / 2;
      if ((x < cw || x >= w - cw) && (y < ch || y >= h - ch)) corner += v, corner_total += 1;
    }
  return {area / double(w * h), top / std::max(1.0, top + bottom), corner / std::max(1.0, corner_total)};
}

ShapeKind nearest_kind(const Features& f, ShapeSize size) {
  // prototypes: the generator's own shapes at the judged size
  static const auto prototypes = [] {
    std::array<std::array<Features, kNumKinds>, 2> p{};
    for (int s = 0; s < 2; ++s)
      for (int k = 0; k < kNumKinds; ++k) {
        ShapeObject o;
        o.kind = ShapeKind(k);
        o.size = ShapeSize(s);
        const int64_t side = o.side();
        std::vector<uint8_t> m(static_cast<size_t>(side * side));
        int64_t x0 = side, y0 = side, x1 = -1, y1 = -1;
        for (int64_t y = 0; y < side; ++y)
          for (int64_t x = 0; x < side; ++x)
            if ((m[y * side + x] = shape_covers(o, x, y)))
              x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
        std::vector<uint8_t> box;  // cropped to the drawn pixels, as a detected component is
        for (int64_t y = y0; y <= y1; ++y)
          for (int64_t x = x0; x <= x1; ++x) box.push_back(m[y * side + x]);
        p[s][k] = shape_features(box, x1 - x0 + 1, y1 - y0 + 1);
      }
    return p;
  }();
  int best = 0;
  double best_d = 1e9;
  for (int k = 0; k < kNumKinds; ++k) {
    const Features& p = prototypes[int(size)][k];
    const double d = (f.fill - p.fill) * (f.fill - p.fill) +
                     2 * (f.balance - p.balance) * (f.balance - p.balance) +
                     (f.corners - p.corners) * (f.corners - p.corners);
    if (d < best_d) best_d = d, best = k;
  }
  return ShapeKind(best);
}

}  // namespace

std::vector<DetectedObject> detect_objects(const RgbImage& image) {
  const int64_t W = image.width, H = image.height;
  if (W <= 0 || H <= 0 || static_cast<int64_t>(image.pixels.size()) != 3 * W * H)
    fail("shapes judge: image is ", W, "x", H, " with ", image.pixels.size(), " bytes, expected 3 per pixel");
  std::vector<int> label(static_cast<size_t>(W * H));
  for (int64_t i = 0; i < W * H; ++i) label[i] = classify_pixel(&image.pixels[3 * i]);
  std::vector<int> seen(label.size(), 0);
  std::array<std::optional<DetectedObject>, kNumColours> best;
  std::vector<int64_t> stack, members;
  for (int64_t start = 0; start < W * H; ++start) {
    if (label[start] < 0 || seen[start]) continue;
    const int c = label[start];
    members.clear();
    stack = {start};
    seen[start] = 1;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      members.push_back(p);
      const int64_t px = p % W, py = p / W;
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t x = px + dx, y = py + dy;
          if (x < 0 || y < 0 || x >= W || y >= H) continue;
          const int64_t q = y * W + x;
          if (!seen[q] && label[q] == c) seen[q] = 1, stack.push_back(q);
        }
    }
    const auto n = static_cast<int64_t>(members.size());
    if (n < kMinComponentPixels || (best[c] && best[c]->pixels >= n)) continue;
    DetectedObject o{};
    o.colour = ShapeColour(c);
    o.pixels = n;
    o.x0 = W, o.y0 = H, o.x1 = -1, o.y1 = -1;
    double sx = 0, sy = 0;
    for (int64_t p : members) {
      const int64_t x = p % W, y = p / W;
      o.x0 = std::min(o.x0, x), o.y0 = std::min(o.y0, y), o.x1 = std::max(o.x1, x), o.y1 = std::max(o.y1, y);
      sx += double(x) + 0.5, sy += double(y) + 0.5;
    }
    o.cx = sx / double(n), o.cy = sy / double(n);
    const int64_t bw = o.x1 - o.x0 + 1, bh = o.y1 - o.y0 + 1;
    // sizes scale with the image (the grammar's 8 and 14 px are for 32x32); the threshold is midway
    const double small_limit =
        double(kSmallSide + kLargeSide) / 2.0 * double(std::min(W, H)) / double(kShapesImageSize);
    o.size = double(std::max(bw, bh)) <= small_limit ? ShapeSize::Small : ShapeSize::Large;
    std::vector<uint8_t> mask(static_cast<size_t>(bw * bh), 0);
    for (int64_t p : members) mask[(p / W - o.y0) * bw + (p % W - o.x0)] = 1;
    o.kind = nearest_kind(shape_features(mask, bw, bh), o.size);
    const int col = std::clamp(static_cast<int>(o.cx * 3.0 / double(W)), 0, 2);
    const int row = std::clamp(static_cast<int>(o.cy * 3.0 / double(H)), 0, 2);
    o.position = row * 3 + col;
    best[c] = o;
  }
  std::vector<DetectedObject> out;
  for (const auto& o : best)
    if (o) out.push_back(*o);
  std::stable_sort(out.begin(), out.end(),
                   [](const DetectedObject& a, const DetectedObject& b) { return a.pixels > b.pixels; });
  return out;
}

ShapeRelation relation_between(const DetectedObject& a, const DetectedObject& b) {
  const double dx = a.cx - b.cx, dy = a.cy - b.cy;
  if (std::fabs(dx) >= std::fabs(dy)) return dx < 0 ? ShapeRelation::LeftOf : ShapeRelation::RightOf;
  return dy < 0 ? ShapeRelation::Above : ShapeRelation::Below;
}

ShapesJudgement judge_shapes(const RgbImage& image, const ShapesCaption& caption) {
  const std::vector<DetectedObject> found = detect_objects(image);
  ShapesJudgement j;
  j.count = found.size() == caption.objects.size();
  if (caption.objects.size() == 1) {
    const ShapesCaption::Object& want = caption.objects[0];
    const bool any = !found.empty();
    j.colour = any && found[0].colour == want.colour;
    j.shape = any && found[0].kind == want.kind;
    if (want.size) j.size = any && found[0].size == *want.size;
    if (want.position) j.position = any && found[0].position == *want.position;
  } else if (caption.objects.size() == 2) {
    const ShapesCaption::Object &wa = caption.objects[0], &wb = caption.objects[1];
    if (found.size() < 2) {
      j.colour = j.shape = false;
      if (caption.relation) j.relation = false;
    } else {
      // the detected object of the first caption colour stands for the first shape
      const bool swap = found[1].colour == wa.colour;
      const DetectedObject& a = swap ? found[1] : found[0];
      const DetectedObject& b = swap ? found[0] : found[1];
      j.colour = a.colour == wa.colour && b.colour == wb.colour;
      j.shape = a.kind == wa.kind && b.kind == wb.kind;
      if (caption.relation) j.relation = relation_between(a, b) == *caption.relation;
    }
  } else {
    fail("shapes judge: a caption of ", caption.objects.size(), " shapes");
  }
  j.exact = j.count;
  for (const auto* v : {&j.colour, &j.shape, &j.size, &j.position, &j.relation})
    if (*v && !**v) j.exact = false;
  return j;
}

void ShapesScore::add(const ShapesJudgement& j) {
  colour.add(j.colour);
  shape.add(j.shape);
  size.add(j.size);
  position.add(j.position);
  relation.add(j.relation);
  count.add(j.count);
  exact.add(j.exact);
}

}  // namespace ld::data
