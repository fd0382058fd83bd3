// tensor/strided_loop.h: walking N-d strided operands together.
//
// Element-wise ops, copies and reductions all visit every index of an N-d
// shape, reading each operand at offset = sum_i index[i] * stride[i]. We first
// merge axes that are contiguous for every operand (coalescing), so a contiguous
// tensor becomes one long row, then run a kernel on each innermost row:
//   kernel(offsets of the row's first element per operand, row length, inner strides)
// Rows (and pieces of long rows) are split across OpenMP threads when the op is large (see parallel.h).
#pragma once
#include <array>
#include <cstdint>

#include "tensor/parallel.h"
#include "tensor/shape.h"

namespace ld {

template <int N>
struct StridedLoop {
  Shape shape;                    // coalesced shape; last axis is the row
  std::array<Strides, N> stride;  // per operand, same rank as shape
  int64_t rows() const {
    if (shape.size() <= 1) return 1;
    return shape.back() == 0 ? 0 : shape_numel(shape) / shape.back();
  }
  int64_t row_length() const { return shape.empty() ? 1 : shape.back(); }
};

// Build a loop over `shape`; each operand's strides must already have shape's rank.
template <int N>
StridedLoop<N> make_strided_loop(const Shape& shape, const std::array<Strides, N>& strides) {
  StridedLoop<N> L;
  // drop size-1 axes, then merge axis i into i+1 when every operand allows it
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    bool merge = !L.shape.empty();
    for (int k = 0; k < N && merge; ++k) merge = L.stride[k].back() == strides[k][i] * shape[i];
    if (merge) {
      L.shape.back() *= shape[i];
      for (int k = 0; k < N; ++k) L.stride[k].back() = strides[k][i];
    } else {
      L.shape.push_back(shape[i]);
      for (int k = 0; k < N; ++k) L.stride[k].push_back(strides[k][i]);
    }
  }
  if (L.shape.empty()) {  // a scalar, or all sizes 1
    L.shape.push_back(shape_numel(shape));
    for (int k = 0; k < N; ++k) L.stride[k].push_back(1);
  }
  return L;
}

// Run kernel(std::array<int64_t,N> offsets, int64_t n, std::array<int64_t,N> inner_strides) on every row.
// The kernels are element-wise (each output element depends only on the inputs at its own
// index), so a row may also be cut into pieces, each a shorter row: a contiguous tensor
// coalesces into one single row, and without the cut it would run on one thread.
template <int N, class Kernel>
void for_each_row(const StridedLoop<N>& L, Kernel kernel, bool allow_parallel = true) {
  const int64_t rows = L.rows(), n = L.row_length();
  const int outer = static_cast<int>(L.shape.size()) - 1;
  std::array<int64_t, N> inner;
  for (int k = 0; k < N; ++k) inner[k] = L.stride[k].back();
  const bool par = allow_parallel && rows * n >= kParallelGrain;
  // pieces per row: enough for ~4 work items per thread, none shorter than kMinPiece
  constexpr int64_t kMinPiece = 4096;
  int64_t pieces = 1;
  if (par && rows < 4 * num_threads()) {
    const int64_t want = (4 * num_threads() + rows - 1) / rows, most = (n + kMinPiece - 1) / kMinPiece;
    pieces = want < most ? want : most;
  }
  const int64_t items = rows * pieces;
#pragma omp parallel for schedule(static) if (par) num_threads(num_threads())
  for (int64_t item = 0; item < items; ++item) {
    const int64_t r = item / pieces, piece = item % pieces;
    const int64_t begin = n * piece / pieces, end = n * (piece + 1) / pieces;
    std::array<int64_t, N> off{};
    int64_t rem = r;
    for (int d = outer - 1; d >= 0; --d) {
      int64_t idx = rem % L.shape[d];
      rem /= L.shape[d];
      for (int k = 0; k < N; ++k) off[k] += idx * L.stride[k][d];
    }
    for (int k = 0; k < N; ++k) off[k] += begin * inner[k];
    kernel(off, end - begin, inner);
  }
}

}  // namespace ld
