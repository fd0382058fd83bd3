// Colour image + caption folders (image_folder.h, channels 3): a make-shapes folder loads as
// (N, 3, 32, 32) whose pixels are the PNGs' bytes; a gray file asked for as 3 channels gives three equal
// planes; a colour file asked for as 1 channel is gray as before; other channel counts are refused.
#include <doctest/doctest.h>

#include <filesystem>

#include "data/image_folder.h"
#include "data/loader.h"
#include "data/png.h"
#include "data/shapes.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tests/temp_dir.h"

using namespace ld;
using namespace ld::data;

TEST_CASE("a colour folder loads as (N, 3, H, W) and round-trips to the same bytes") {
  ld::test::TempDir tmp("rgb-folder");
  write_shapes_folder(tmp / "s", 6, 9, ShapesOptions{0.5, {}});
  FolderOptions opt;
  opt.size = 32;
  opt.channels = 3;
  const ImageFolder f = read_image_folder(tmp / "s", opt);
  REQUIRE(f.images.shape() == Shape{6, 3, 32, 32});
  for (int64_t i = 0; i < 6; ++i) {
    const RgbImage file = decode_png_rgb(read_file(f.items[i].image_path), "png");
    CHECK(rgb_image_from_tensor(f.images.select(0, i)).pixels == file.pixels);
    CHECK_FALSE(f.items[i].inverted);
    CHECK(f.items[i].caption == scene_caption(make_shape_scene(9, i, ShapesOptions{0.5, {}})));
  }
  // the same folder as gray: one channel, luma, as every gray caller gets it
  opt.channels = 1;
  const ImageFolder g = read_image_folder(tmp / "s", opt);
  CHECK(g.images.shape() == Shape{6, 1, 32, 32});
  CHECK(g.images.to_vector() == read_image_folder(tmp / "s", FolderOptions{32}).images.to_vector());
  // a gray image asked for as colour: three equal planes; light-on-dark stays as it is (no inversion)
  std::filesystem::create_directories(tmp.path / "gray");
  GrayImage gray{8, 8, std::vector<uint8_t>(64, 230)};
  for (int k = 0; k < 8; ++k) gray.pixels[k * 8 + 3] = 10;  // dark ink on light paper
  write_png(tmp / "gray/a.png", gray);
  write_file_atomic(tmp / "gray/a.txt", "a stroke");
  opt.channels = 3;
  opt.size = 8;
  const ImageFolder c = read_image_folder(tmp / "gray", opt);
  REQUIRE(c.images.shape() == Shape{1, 3, 8, 8});
  const RgbImage back = rgb_image_from_tensor(c.images.select(0, 0));
  for (int64_t k = 0; k < 64; ++k) {
    CHECK(back.pixels[3 * k] == gray.pixels[k]);
    CHECK(back.pixels[3 * k + 1] == gray.pixels[k]);
    CHECK(back.pixels[3 * k + 2] == gray.pixels[k]);
  }
  CHECK_FALSE(c.items[0].inverted);
  opt.channels = 2;
  CHECK_THROWS_WITH_AS(read_image_folder(tmp / "gray", opt),
                       doctest::Contains("2 channels asked for, expected 1 (gray) or 3 (RGB)"), Error);
}

TEST_CASE("the batch loader carries colour images whole: (B, 3, H, W), each the folder's image") {
  ld::test::TempDir tmp("rgb-loader");
  write_shapes_folder(tmp / "s", 5, 2, ShapesOptions{0.5, {}});
  FolderOptions opt;
  opt.size = 32;
  opt.channels = 3;
  const ImageFolder f = read_image_folder(tmp / "s", opt);
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.seed = 4;
  DataLoader loader(captioned_folder(f), shapes_vocabulary(), lo);
  CHECK(loader.warnings().empty());
  for (int k = 0; k < 4; ++k) {
    const Batch b = loader.next();
    REQUIRE(b.images.shape() == Shape{2, 3, 32, 32});
    for (int64_t j = 0; j < 2; ++j) {
      CHECK(b.images.select(0, j).to_vector() == f.images.select(0, b.indices[j]).to_vector());
      CHECK(b.captions[j] == f.items[b.indices[j]].caption);
    }
  }
}
