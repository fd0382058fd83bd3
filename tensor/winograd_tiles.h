// tensor/winograd_tiles.h: internal to tensor/winograd*.cpp. The tiling of a plane into m x m
// output tiles (m = 2 for F(2x2, 3x3), 4 for F(4x4, 3x3)) and the F(4x4, 3x3) transforms, which
// live in tensor/winograd44.cpp and plug into the shared driver of tensor/winograd.cpp.
#pragma once
#include <cstdint>

namespace ld::winograd_detail {

// The tiling of one H x W plane: th x tw tiles of m x m outputs, read from a zero-padded copy of
// the plane with Hp = m th + 2 rows and Wp = m tw + 2 columns (padding 1 on the top and left,
// 1 to m on the bottom and right). Each tile reads the (m + 2) x (m + 2) window at (m ty, m tx).
struct Tiling {
  int64_t m, H, W, th, tw, Hp, Wp;
  Tiling(int64_t h, int64_t w, int64_t m_)
      : m(m_), H(h), W(w), th((h + m_ - 1) / m_), tw((w + m_ - 1) / m_), Hp(m_ * th + 2), Wp(m_ * tw + 2) {}
  int64_t tiles() const { return th * tw; }
};

// F(4x4, 3x3): the same contracts as the F(2x2) functions in tensor/winograd.cpp, with 36
// matrices (xi = 6 row + column) instead of 16. `rows` is scratch for 6 Wp floats (>= 24 tw).
void input_transform_44(const float* pad, const Tiling& t, float* v, int64_t stride, float* rows);
void weight_transform_44(const float* w, int64_t Cout, int64_t C, float* u);
void weight_transform_adjoint_44(const float* du, int64_t Cout, int64_t C, float* dw);
void output_transform_44(const float* m, int64_t stride, const Tiling& t, float* plane, float* rows);
void output_transform_adjoint_44(const float* plane, const Tiling& t, float* dm, int64_t stride, float* rows);

}  // namespace ld::winograd_detail
