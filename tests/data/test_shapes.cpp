// The shapes data set (data/shapes.h): the generator is a pure function of the seed, captions parse
// back, shapes lie inside the image and apart, --exclude is respected; the rule-based judge agrees
// with the generator and catches each kind of corruption on the attribute it corrupts.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "data/png.h"
#include "data/shapes.h"
#include "data/tokenizer.h"
#include "tensor/error.h"

using namespace ld;
using namespace ld::data;

namespace {

ShapesOptions half_two() {
  ShapesOptions o;
  o.two_shape_fraction = 0.5;
  return o;
}

bool object_pixels_inside(const ShapeObject& o) {
  return o.x0 >= 0 && o.y0 >= 0 && o.x0 + o.side() <= kShapesImageSize && o.y0 + o.side() <= kShapesImageSize;
}

}  // namespace

TEST_CASE("the generator is a pure function of seed and index") {
  const ShapesOptions opt = half_two();
  for (int64_t i = 0; i < 20; ++i) {
    const ShapeScene a = make_shape_scene(7, i, opt), b = make_shape_scene(7, i, opt);
    CHECK(render_scene(a).pixels == render_scene(b).pixels);
    CHECK(scene_caption(a) == scene_caption(b));
  }
  // a different seed gives different images (some of 20 may coincide by chance, not most)
  int same = 0;
  for (int64_t i = 0; i < 20; ++i)
    same +=
        render_scene(make_shape_scene(7, i, opt)).pixels == render_scene(make_shape_scene(8, i, opt)).pixels;
  CHECK(same < 3);
  // the same PNG bytes too (what `data make-shapes` writes)
  CHECK(encode_png(render_scene(make_shape_scene(3, 5, opt))) ==
        encode_png(render_scene(make_shape_scene(3, 5, opt))));
}

TEST_CASE("every caption parses back to its scene's attributes; shapes lie inside and apart") {
  const ShapesOptions opt = half_two();
  std::set<std::string> kinds_seen;
  int two = 0;
  for (int64_t i = 0; i < 400; ++i) {
    const ShapeScene s = make_shape_scene(1, i, opt);
    const std::string cap = scene_caption(s);
    INFO(cap);
    const ShapesCaption c = parse_shapes_caption(cap);
    REQUIRE(c.objects.size() == s.objects.size());
    for (size_t k = 0; k < s.objects.size(); ++k) {
      CHECK(c.objects[k].colour == s.objects[k].colour);
      CHECK(c.objects[k].kind == s.objects[k].kind);
      CHECK(object_pixels_inside(s.objects[k]));
      kinds_seen.insert(kind_name(s.objects[k].kind));
    }
    if (s.objects.size() == 1) {
      CHECK(c.objects[0].size == s.objects[0].size);
      CHECK(c.objects[0].position == s.objects[0].position);
      CHECK_FALSE(c.relation);
    } else {
      ++two;
      CHECK(c.relation == s.relation);
      CHECK(s.objects[0].colour != s.objects[1].colour);
      // no overlap: no pixel covered by both shapes, and the boxes do not touch
      const ShapeObject &a = s.objects[0], &b = s.objects[1];
      CHECK((a.x0 + a.side() < b.x0 || b.x0 + b.side() < a.x0 || a.y0 + a.side() < b.y0 ||
             b.y0 + b.side() < a.y0));
    }
  }
  CHECK(kinds_seen.size() == 4);
  CHECK(two > 150);
  CHECK(two < 250);
  // the grammar's words are exactly shapes_words()
  const std::vector<std::string> grammar = shapes_words();
  const std::set<std::string> words(grammar.begin(), grammar.end());
  CHECK(words.size() == grammar.size());
  for (int64_t i = 0; i < 200; ++i)
    for (const std::string& w : split_words(scene_caption(make_shape_scene(2, i, opt))))
      CHECK(words.count(w) == 1);
  // shapes_vocabulary() knows every word of every caption
  const Vocabulary vocab = shapes_vocabulary();
  CHECK(vocab.size() == 3 + static_cast<int64_t>(grammar.size()));
  for (int64_t i = 0; i < 200; ++i) CHECK(tokenize(vocab, scene_caption(make_shape_scene(2, i, opt))).ok());
}

TEST_CASE("--exclude leaves out shapes and colour-shape pairs, and names unknown words") {
  ShapesOptions opt = half_two();
  opt.exclude = parse_shape_exclusions({"triangle", "Red  Circle"}, "--exclude");
  CHECK(opt.exclude.excluded(ShapeColour::Blue, ShapeKind::Triangle));
  CHECK(opt.exclude.excluded(ShapeColour::Red, ShapeKind::Circle));
  CHECK_FALSE(opt.exclude.excluded(ShapeColour::Green, ShapeKind::Circle));
  int red = 0;
  for (int64_t i = 0; i < 400; ++i)
    for (const ShapeObject& o : make_shape_scene(4, i, opt).objects) {
      CHECK(o.kind != ShapeKind::Triangle);
      CHECK_FALSE((o.colour == ShapeColour::Red && o.kind == ShapeKind::Circle));
      red += o.colour == ShapeColour::Red;
    }
  CHECK(red > 0);  // red squares and crosses are still drawn
  auto message = [](const std::vector<std::string>& items) {
    try {
      parse_shape_exclusions(items, "--exclude");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({"hexagon"}) ==
        "--exclude 'hexagon': 'hexagon' is not a shape (expected a shape, circle, square, triangle or cross, "
        "or "
        "a colour and a shape such as 'red circle')");
  CHECK(message({"purple circle"}) ==
        "--exclude 'purple circle': 'purple' is not a colour (expected red, green, blue, yellow, cyan or "
        "magenta)");
  CHECK(message({"red"}).find("a colour alone cannot be left out") != std::string::npos);
  CHECK(message({"a red circle"}).find("not a shape or a colour-shape pair") != std::string::npos);
  CHECK(message({""}).find("not a shape or a colour-shape pair") != std::string::npos);
  for (const auto& m : {message({"hexagon"}), message({"purple circle"})})
    CHECK(m.find('\n') == std::string::npos);
  // everything left out, or one colour left for two-shape scenes
  ShapesOptions none;
  none.exclude = parse_shape_exclusions({"circle", "square", "triangle", "cross"}, "--exclude");
  CHECK_THROWS_WITH_AS(make_shape_scene(0, 0, none), doctest::Contains("leave no colour-shape pair"), Error);
  ShapesOptions one_colour = half_two();
  for (int c = 1; c < kNumColours; ++c)  // all but red
    for (auto& k : one_colour.exclude.pair[c]) k = true;
  CHECK_THROWS_WITH_AS(make_shape_scene(0, 0, one_colour), doctest::Contains("leave only red"), Error);
  one_colour.two_shape_fraction = 0;
  CHECK(make_shape_scene(0, 0, one_colour).objects[0].colour == ShapeColour::Red);
}

TEST_CASE("captions outside the grammar are refused naming the word") {
  CHECK_THROWS_WITH_AS(parse_shapes_caption("a small purple circle at the top"),
                       doctest::Contains("word 3 'purple' where a colour"), Error);
  CHECK_THROWS_WITH_AS(parse_shapes_caption("a small red circle at the middle"),
                       doctest::Contains("a position (top left, top"), Error);
  CHECK_THROWS_WITH_AS(parse_shapes_caption("a red circle near a blue square"),
                       doctest::Contains("word 4 'near' where a relation"), Error);
  CHECK_THROWS_WITH_AS(parse_shapes_caption("a red circle left of a blue square too"),
                       doctest::Contains("the end of the caption"), Error);
  CHECK_THROWS_WITH_AS(parse_shapes_caption("a handwritten digit seven"), doctest::Contains("'handwritten'"),
                       Error);
  // case and punctuation as the tokenizer reads them
  const ShapesCaption c = parse_shapes_caption("A large Cyan cross at the bottom right.");
  CHECK(c.objects[0].colour == ShapeColour::Cyan);
  CHECK(c.objects[0].kind == ShapeKind::Cross);
  CHECK(c.objects[0].size == ShapeSize::Large);
  CHECK(c.objects[0].position == 8);
}

TEST_CASE("the judge agrees with the generator on its own images (>= 99 % exact)") {
  const ShapesOptions opt = half_two();
  ShapesScore score;
  for (int64_t i = 0; i < 500; ++i) {
    const ShapeScene s = make_shape_scene(11, i, opt);
    const ShapesJudgement j = judge_shapes(render_scene(s), parse_shapes_caption(scene_caption(s)));
    if (!j.exact) MESSAGE("judged wrong: ", scene_caption(s));
    score.add(j);
  }
  CHECK(score.exact.total == 500);
  CHECK(score.exact.accuracy() >= 0.99);
  CHECK(score.size.total > 150);
  CHECK(score.relation.total > 150);
  // every shape at every size, every colour and every cell, one at a time
  for (int k = 0; k < kNumKinds; ++k)
    for (int sz = 0; sz < 2; ++sz)
      for (int p = 0; p < kNumPositions; ++p)
        for (int c = 0; c < kNumColours; ++c) {
          ShapeScene s;
          ShapeObject o;
          o.kind = ShapeKind(k);
          o.size = ShapeSize(sz);
          o.colour = ShapeColour(c);
          o.position = p;
          for (int jx = -1; jx <= 1; jx += 2) {
            const double cell = double(kShapesImageSize) / 3;
            o.x0 = std::clamp<int64_t>(std::llround((p % 3 + 0.5) * cell - o.side() / 2.0) + jx, 0,
                                       kShapesImageSize - o.side());
            o.y0 = std::clamp<int64_t>(std::llround((p / 3 + 0.5) * cell - o.side() / 2.0) - jx, 0,
                                       kShapesImageSize - o.side());
            s.objects = {o};
            INFO(scene_caption(s), " at ", o.x0, ",", o.y0);
            CHECK(judge_shapes(render_scene(s), parse_shapes_caption(scene_caption(s))).exact);
          }
        }
}

TEST_CASE("corrupted images are judged wrong on the corrupted attribute") {
  ShapesOptions one;
  one.two_shape_fraction = 0;
  ShapesOptions two;
  two.two_shape_fraction = 1;
  Generator noise(99);
  for (int64_t i = 0; i < 40; ++i) {
    const ShapeScene s = make_shape_scene(5, i, one);
    const ShapesCaption cap = parse_shapes_caption(scene_caption(s));
    INFO(scene_caption(s));
    REQUIRE(judge_shapes(render_scene(s), cap).exact);
    const ShapeObject& o = s.objects[0];
    // recoloured
    ShapeScene r = s;
    r.objects[0].colour = ShapeColour((int(o.colour) + 1 + i % 5) % kNumColours);
    ShapesJudgement j = judge_shapes(render_scene(r), cap);
    CHECK_FALSE(*j.colour);
    CHECK(*j.shape);
    CHECK_FALSE(j.exact);
    // another shape in the same box
    r = s;
    r.objects[0].kind = ShapeKind((int(o.kind) + 1 + i % 3) % kNumKinds);
    j = judge_shapes(render_scene(r), cap);
    CHECK_FALSE(*j.shape);
    CHECK(*j.colour);
    CHECK(*j.position);
    CHECK_FALSE(j.exact);
    // moved to another cell (re-placed as the generator places)
    r = s;
    const int to = (o.position + 1 + int(i % 8)) % kNumPositions;
    const double cell = double(kShapesImageSize) / 3;
    r.objects[0].position = to;
    r.objects[0].x0 = std::clamp<int64_t>(std::llround((to % 3 + 0.5) * cell - o.side() / 2.0), 0,
                                          kShapesImageSize - o.side());
    r.objects[0].y0 = std::clamp<int64_t>(std::llround((to / 3 + 0.5) * cell - o.side() / 2.0), 0,
                                          kShapesImageSize - o.side());
    j = judge_shapes(render_scene(r), cap);
    CHECK_FALSE(*j.position);
    CHECK(*j.colour);
    CHECK(*j.shape);
    // the other size
    r = s;
    r.objects[0].size = o.size == ShapeSize::Small ? ShapeSize::Large : ShapeSize::Small;
    r.objects[0].x0 = std::clamp<int64_t>(o.x0 + o.side() / 2 - r.objects[0].side() / 2, 0,
                                          kShapesImageSize - r.objects[0].side());
    r.objects[0].y0 = std::clamp<int64_t>(o.y0 + o.side() / 2 - r.objects[0].side() / 2, 0,
                                          kShapesImageSize - r.objects[0].side());
    j = judge_shapes(render_scene(r), cap);
    CHECK_FALSE(*j.size);
    CHECK(*j.colour);
    // erased: nothing there
    r = s;
    r.objects.clear();
    j = judge_shapes(render_scene(r), cap);
    CHECK_FALSE(j.count);
    CHECK_FALSE(*j.colour);
    CHECK_FALSE(*j.shape);
    CHECK_FALSE(j.exact);
    // speckles: 30 isolated coloured pixels on the background are noise, not objects
    RgbImage img = render_scene(s);
    for (int k = 0; k < 30; ++k) {
      const int64_t x = noise.next_int(kShapesImageSize), y = noise.next_int(kShapesImageSize);
      bool near_shape = false;  // keep speckles isolated from the shape and from each other's blobs
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t xx = std::clamp<int64_t>(x + dx, 0, kShapesImageSize - 1),
                        yy = std::clamp<int64_t>(y + dy, 0, kShapesImageSize - 1);
          near_shape |= shape_covers(o, xx, yy);
        }
      if (near_shape) continue;
      const auto rgb = colour_rgb(ShapeColour(noise.next_int(kNumColours)));
      std::copy(rgb.begin(), rgb.end(), img.at(x, y));
    }
    CHECK(judge_shapes(img, cap).exact);
    // grey noise below the brightness threshold everywhere is background too
    img = render_scene(s);
    for (auto& b : img.pixels)
      b = static_cast<uint8_t>(std::min<int64_t>(255, std::max<int64_t>(b - 40, 0) + noise.next_int(60)));
    CHECK(judge_shapes(img, cap).exact);
    // a second object (a large blob of another colour) makes the count wrong
    img = render_scene(s);
    ShapeObject extra = o;
    extra.colour = ShapeColour((int(o.colour) + 3) % kNumColours);
    extra.position = (o.position + 4) % kNumPositions;
    extra.size = ShapeSize::Small;
    extra.kind = ShapeKind::Square;
    extra.x0 = o.x0 < 16 ? kShapesImageSize - 8 : 0;
    extra.y0 = o.y0 < 16 ? kShapesImageSize - 8 : 0;
    ShapeScene with_extra = s;
    with_extra.objects.push_back(extra);
    j = judge_shapes(render_scene(with_extra), cap);
    CHECK_FALSE(j.count);
    CHECK_FALSE(j.exact);
  }
  for (int64_t i = 0; i < 40; ++i) {
    const ShapeScene s = make_shape_scene(6, i, two);
    const ShapesCaption cap = parse_shapes_caption(scene_caption(s));
    INFO(scene_caption(s));
    REQUIRE(judge_shapes(render_scene(s), cap).exact);
    // the two shapes swap places: the relation flips
    ShapeScene r = s;
    std::swap(r.objects[0].x0, r.objects[1].x0);
    std::swap(r.objects[0].y0, r.objects[1].y0);
    // a large and a small shape swapped near an edge may stick out: keep them inside
    for (auto& o : r.objects) {
      o.x0 = std::clamp<int64_t>(o.x0, 0, kShapesImageSize - o.side());
      o.y0 = std::clamp<int64_t>(o.y0, 0, kShapesImageSize - o.side());
    }
    const ShapesJudgement j = judge_shapes(render_scene(r), cap);
    CHECK_FALSE(*j.relation);
    CHECK(*j.colour);
    // one shape erased
    r = s;
    r.objects.pop_back();
    CHECK_FALSE(judge_shapes(render_scene(r), cap).exact);
    // the second shape in the first shape's colour: only one colour is there
    r = s;
    r.objects[1].colour = r.objects[0].colour;
    CHECK_FALSE(*judge_shapes(render_scene(r), cap).colour);
  }
}

TEST_CASE("the judge reads RGB PNGs and model tensors the same way") {
  const ShapeScene s = make_shape_scene(3, 1, half_two());
  const RgbImage img = render_scene(s);
  const RgbImage back = decode_png_rgb(encode_png(img), "mem.png");
  CHECK(back.width == kShapesImageSize);
  CHECK(back.pixels == img.pixels);
  const Tensor t = tensor_from_image(img);
  CHECK(t.shape() == Shape{3, kShapesImageSize, kShapesImageSize});
  CHECK(rgb_image_from_tensor(t).pixels == img.pixels);
}
