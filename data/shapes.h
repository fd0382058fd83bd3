// data/shapes.h: a generated compositional colour data set (32x32 RGB shapes with captions) and
// the rule-based judge that checks any image against such a caption (docs/data.md, "Shapes").
//
// Every image is a pure function of (seed, index, options): Philox (tensor/random.h) draws the
// scene, so the same seed gives the same bytes on every machine. The vocabulary is fixed so that
// an evaluator can check generated images by rule, without a trained classifier:
//   background black; shapes filled in one of six pure colours; circle, square, triangle (apex up),
//   cross (a plus sign, arms a third of its size); small (8x8 box) or large (14x14); one of the
//   3x3 grid cells of the image, centred in the cell with +-1 px jitter and moved inward until it
//   lies wholly inside the image.
//   one shape:  "a {size} {colour} {shape} at the {position}"   ("a small red circle at the top left")
//   two shapes: "a {colour} {shape} {relation} a {colour} {shape}" ("a red circle left of a blue square"),
//               two different colours, boxes apart (no overlap, not touching), relation left of,
//               right of, above or below (the first shape relative to the second).
// data/ knows nothing of models: the judge takes images, evaluation (diffusion/shapes_eval.h) makes them.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/vocab.h"
#include "tensor/random.h"

namespace ld::data {

inline constexpr int64_t kShapesImageSize = 32;
inline constexpr int64_t kSmallSide = 8, kLargeSide = 14;  // box sides of small and large shapes

enum class ShapeColour { Red, Green, Blue, Yellow, Cyan, Magenta };
enum class ShapeKind { Circle, Square, Triangle, Cross };
enum class ShapeSize { Small, Large };
enum class ShapeRelation { LeftOf, RightOf, Above, Below };
inline constexpr int kNumColours = 6, kNumKinds = 4, kNumPositions = 9;

const char* colour_name(ShapeColour c);      // "red"
const char* kind_name(ShapeKind k);          // "circle"
const char* size_name(ShapeSize s);          // "small"
const char* position_name(int position);     // 0..8 row by row: "top left", "top", ..., "bottom right"
const char* relation_name(ShapeRelation r);  // "left of"
std::array<uint8_t, 3> colour_rgb(ShapeColour c);

// Every word of the grammar (for a model's vocabulary), in a fixed order.
std::vector<std::string> shapes_words();
// <pad>, <bos>, <unk>, then shapes_words(): a shapes model's vocabulary. Fixed, so that a model trained
// with --exclude still has the left-out words' tokens (for a LoRA that teaches them later), as
// data/vocab.txt keeps "nine" for a model trained without nines.
Vocabulary shapes_vocabulary();

struct ShapeObject {
  ShapeColour colour = ShapeColour::Red;
  ShapeKind kind = ShapeKind::Circle;
  ShapeSize size = ShapeSize::Small;
  int position = 4;        // grid cell 0..8 (row * 3 + column)
  int64_t x0 = 0, y0 = 0;  // top-left corner of the shape's box (side kSmallSide or kLargeSide)
  int64_t side() const { return size == ShapeSize::Small ? kSmallSide : kLargeSide; }
};

struct ShapeScene {
  std::vector<ShapeObject> objects;                // one or two
  ShapeRelation relation = ShapeRelation::LeftOf;  // two shapes: objects[0] relative to objects[1]
};

// Left-out shapes ("triangle") and colour-shape pairs ("red circle").
struct ShapeExclusions {
  std::array<std::array<bool, kNumKinds>, kNumColours> pair{};  // [colour][kind]
  bool excluded(ShapeColour c, ShapeKind k) const { return pair[int(c)][int(k)]; }
  bool any() const;
  std::vector<std::string> names() const;  // "red circle", ... (every excluded pair)
};
// Each item "SHAPE" or "COLOUR SHAPE" (case and extra spaces ignored); an unknown word or another
// form throws one line naming `option`, the item, and the words expected.
ShapeExclusions parse_shape_exclusions(const std::vector<std::string>& items, const std::string& option);

struct ShapesOptions {
  double two_shape_fraction = 0.25;  // share of two-shape images
  ShapeExclusions exclude;
};

// Scene `index` of the data set of `seed`; independent of how many are made. Throws when the
// exclusions leave nothing to draw (or fewer than two colours for two-shape scenes).
ShapeScene make_shape_scene(uint64_t seed, int64_t index, const ShapesOptions& options);
RgbImage render_scene(const ShapeScene& scene);
std::string scene_caption(const ShapeScene& scene);
// True when the shape of `o` (pixel centre (x + 0.5, y + 0.5)) covers pixel (x, y).
bool shape_covers(const ShapeObject& o, int64_t x, int64_t y);
// A random caption of the grammar (positions and boxes are drawn too), drawn from every combination
// (excluded ones included: evaluation asks for them); `two_shapes` picks the form.
ShapeScene random_prompt_scene(Generator& gen, bool two_shapes);

// `loradiff data make-shapes`: scenes 0..n-1 of `seed` as DIR/shape_00000.png (RGB) + .txt pairs,
// each written atomically, then DIR/.manifest.json (hidden, so the folder reads as an image + caption
// folder: image_folder.h) with the options and seed. DIR must be new or empty (hidden files aside):
// nothing is ever written over. Errors name `option` ("--out"). Returns the two-shape count.
int64_t write_shapes_folder(const std::string& dir, int64_t n, uint64_t seed, const ShapesOptions& options,
                            const std::string& option = "--out");
inline constexpr const char* kShapesManifest = ".manifest.json";

// What a caption asks for: its objects (size and position only in one-shape captions) and relation.
struct ShapesCaption {
  struct Object {
    ShapeColour colour;
    ShapeKind kind;
    std::optional<ShapeSize> size;
    std::optional<int> position;
  };
  std::vector<Object> objects;
  std::optional<ShapeRelation> relation;
  // True when any (colour, kind) of the caption is excluded.
  bool uses(const ShapeExclusions& e) const;
};
// Inverse of scene_caption (words split as the tokenizer splits them); throws one line naming the
// caption and the first word that does not fit the grammar.
ShapesCaption parse_shapes_caption(const std::string& caption);

// The judge. A pixel is background when its brightest channel is below 128; otherwise its colour
// is the nearest of the six (after scaling the brightest channel to 1). Same-colour pixels form
// 8-connected components; components under kMinComponentPixels are noise. Per colour the largest
// component is an object; objects are ordered by area, largest first.
inline constexpr int64_t kMinComponentPixels = 8;
struct DetectedObject {
  ShapeColour colour;
  ShapeKind kind;          // nearest prototype of (filled fraction, top/bottom balance, corner fill)
  ShapeSize size;          // the longer box side: small up to 11 px, large above
  int position;            // the grid cell holding the centroid
  int64_t pixels;          // area
  double cx, cy;           // centroid (pixel centres)
  int64_t x0, y0, x1, y1;  // box, inclusive
};
std::vector<DetectedObject> detect_objects(const RgbImage& image);
// The relation of a centroid to another: the axis with the larger distance decides.
ShapeRelation relation_between(const DetectedObject& a, const DetectedObject& b);

// One image against its caption; an attribute the caption does not state is unset.
struct ShapesJudgement {
  std::optional<bool> colour, shape, size, position, relation;
  bool count = false;  // as many objects as the caption names
  bool exact = false;  // count and every stated attribute right
};
ShapesJudgement judge_shapes(const RgbImage& image, const ShapesCaption& caption);

// Accuracy per attribute over many judgements.
struct ShapesScore {
  struct Tally {
    int64_t right = 0, total = 0;
    void add(const std::optional<bool>& v) {
      if (v) right += *v, total += 1;
    }
    double accuracy() const { return total ? double(right) / double(total) : 0.0; }
  };
  Tally colour, shape, size, position, relation, count, exact;
  void add(const ShapesJudgement& j);
};

}  // namespace ld::data
