// tensor/copy.cpp: strided copy and fill loops (behind contiguous(), clone(), copy_()).
#include "tensor/copy.h"

#include "tensor/strided_loop.h"

namespace ld {

template <class T>
static void copy_typed(T* d, const T* s, const StridedLoop<2>& L) {
  for_each_row<2>(L, [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
    T* o = d + off[0];
    const T* a = s + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = a[i];
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = a[i * st[1]];
    }
  });
}

void strided_copy(const Tensor& dst, const Tensor& src) {
  if (dst.shape() != src.shape())
    fail("copy: shapes ", shape_str(dst.shape()), " and ", shape_str(src.shape()), " differ");
  if (dst.dtype() != src.dtype()) fail("copy: dtypes differ");
  check_same_device("copy", dst, src);
  auto L = make_strided_loop<2>(dst.shape(), {dst.strides(), src.strides()});
  if (dst.dtype() == DType::F32)
    copy_typed(dst.f32(), src.f32(), L);
  else
    copy_typed(dst.i32(), src.i32(), L);
}

void strided_fill(const Tensor& dst, float value) {
  auto L = make_strided_loop<1>(dst.shape(), {dst.strides()});
  if (dst.dtype() == DType::F32) {
    float* d = dst.f32();
    for_each_row<1>(L, [&](std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> st) {
      for (int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = value;
    });
  } else {
    int32_t* d = dst.i32();
    int32_t v = static_cast<int32_t>(value);
    for_each_row<1>(L, [&](std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> st) {
      for (int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = v;
    });
  }
}

}  // namespace ld
