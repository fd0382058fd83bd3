// bench/winograd.cpp: `loradiff bench winograd`, F(2x2, 3x3) against F(4x4, 3x3) (tensor/winograd.h)
// at every 3x3 convolution shape of the mnist-t2i and shapes-t2i UNets, batch 64: the forward (which is also
// the input gradient, the forward with the flipped kernel) and the weight gradient, measured alternately, and
// the tile conv2d picks for that shape.
#include "tensor/winograd.h"

#include <utility>
#include <vector>

#include "bench/bench.h"
#include "tensor/all.h"

namespace ld::bench {

int run_winograd(int reps) {
  Generator gen(0);
  const int threads = num_threads();
  struct ConvShape {
    int64_t c, cout, hw;
  };
  // diffusion/unet.cpp with channels (32, 64, 128): ResBlocks' two convolutions (the first also
  // widens or, after a skip concat, narrows), the Upsample convolutions; mnist-t2i's planes (28, 14,
  // 7) and shapes-t2i's (32, 16, 8)
  std::vector<ConvShape> shapes;
  for (int64_t hw : {28, 32})
    for (auto [c, cout] : {std::pair<int64_t, int64_t>{32, 32}, {96, 32}, {64, 64}})
      shapes.push_back({c, cout, hw});
  for (int64_t hw : {14, 16})
    for (auto [c, cout] : {std::pair<int64_t, int64_t>{32, 64}, {64, 64}, {192, 64}, {128, 128}})
      shapes.push_back({c, cout, hw});
  for (int64_t hw : {7, 8})
    for (auto [c, cout] : {std::pair<int64_t, int64_t>{64, 128}, {128, 128}, {256, 128}})
      shapes.push_back({c, cout, hw});
  for (ConvShape s : shapes) {
    const int64_t N = 64;
    Tensor x = rand_normal({N, s.c, s.hw, s.hw}, gen), w = rand_normal({s.cout, s.c, 3, 3}, gen),
           dy = rand_normal({N, s.cout, s.hw, s.hw}, gen), y = Tensor::empty({N, s.cout, s.hw, s.hw}),
           dw = Tensor::empty(w.shape());
    auto fwd = [&](int tile) {
      return [&, tile] { winograd_conv3x3(x.f32(), w.f32(), N, s.c, s.hw, s.hw, s.cout, y.f32(), tile); };
    };
    auto wgrad = [&](int tile) {
      return
          [&, tile] { winograd_conv3x3_dw(x.f32(), dy.f32(), N, s.c, s.hw, s.hw, s.cout, dw.f32(), tile); };
    };
    auto [f2, f4] = paired_median_ms(fwd(2), fwd(4), reps);
    auto [d2, d4] = paired_median_ms(wgrad(2), wgrad(4), reps);
    emit({{"bench", "winograd_3x3"},
          {"shape", {N, s.c, s.hw, s.hw}},
          {"cout", s.cout},
          {"threads", threads},
          {"forward_f22_ms", f2},
          {"forward_f44_ms", f4},
          {"dw_f22_ms", d2},
          {"dw_f44_ms", d4},
          {"forward_tile", winograd_tile(s.hw, s.hw)},
          {"dw_tile", winograd_tile(s.hw, s.hw)}});
  }
  return 0;
}

}  // namespace ld::bench
