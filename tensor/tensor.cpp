// tensor/tensor.cpp: Storage (64-byte aligned buffers) and the Tensor's constructors and views
// (view, reshape, permute, transpose, narrow, select, expand, ...).
#include "tensor/tensor.h"

#include <malloc.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "tensor/copy.h"

namespace ld {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
const char* dtype_name(DType t) { return t == DType::F32 ? "f32" : "i32"; }
size_t dtype_size(DType) { return 4; }

// --- Storage: 64-byte aligned host memory. The CUDA backend plugs in here
// (device allocation) and in each op's dispatch; see docs/cuda.md.
// glibc returns every block above 32 MB to the kernel on free (mmap/munmap), so a
// training step that allocates the same large buffers each time would pay a page
// fault per 4 KB (or per 2 MB page, docs/performance.md), every step. Keeping freed
// memory in the heap makes the next step reuse it; peak resident memory stays the peak
// of live tensors.
static void keep_freed_memory_in_heap() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
}

// The block comes from malloc and is aligned here, 64 bytes further at most: glibc's
// aligned_alloc does not reuse a large freed block for the next request of the same size
// (it asks for size + alignment, which the freed block is too small for, and takes fresh
// memory from the top of the heap), so every step touched new pages: a 38.5 MB activation
// cost 16 ms of page faults (60-120 ms in 2 MB pages) instead of 4 ms of writing.
Storage::Storage(size_t n, Device dev) : nbytes(n), device(dev) {
  keep_freed_memory_in_heap();
  if (dev == Device::CUDA) fail("tensor: this build of loradiff has no CUDA backend (use --device cpu)");
  block = std::malloc(std::max<size_t>(n, 1) + 64);
  if (!block) fail("tensor: out of memory allocating ", n, " bytes");
  ptr = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(block) + 63) & ~uintptr_t{63});
}

Storage::~Storage() { std::free(block); }

// --- creation
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    if (d < 0) fail("tensor: negative size in shape ", shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(shape_numel(shape) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  std::memset(t.storage_->ptr, 0, t.storage_->nbytes);
  return t;
}

Tensor Tensor::ones(const Shape& shape, Device device) { return full(shape, 1.0f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, DType::F32, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(float value) { return full({}, value); }

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    fail("tensor: from_vector: ", values.size(), " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape);
  std::memcpy(t.f32(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_ints(const std::vector<int32_t>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    fail("tensor: from_ints: ", values.size(), " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, DType::I32);
  std::memcpy(t.i32(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

Tensor Tensor::arange(int64_t n) {
  Tensor t = empty({n});
  float* p = t.f32();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(i);
  return t;
}

// --- the view
int64_t Tensor::size(int64_t axis) const { return shape_[normalize_axis(axis, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

float* Tensor::f32() const {
  check_defined("f32", *this);
  if (dtype_ != DType::F32) fail("tensor: asked for f32 data of an ", dtype_name(dtype_), " tensor");
  return static_cast<float*>(storage_->ptr) + offset_;
}

int32_t* Tensor::i32() const {
  check_defined("i32", *this);
  if (dtype_ != DType::I32) fail("tensor: asked for i32 data of an ", dtype_name(dtype_), " tensor");
  return static_cast<int32_t*>(storage_->ptr) + offset_;
}

// --- views
Tensor Tensor::view(const Shape& shape) const {
  check_defined("view", *this);
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) fail("view: more than one -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else if (s[i] < 0) {
      fail("view: negative size in ", shape_str(shape));
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      fail("view: cannot infer -1 in ", shape_str(shape), " for ", numel(), " elements ", shape_str(shape_));
    s[infer] = numel() / known;
  }
  if (shape_numel(s) != numel())
    fail("view: shape ", shape_str(shape_), " (", numel(), " elements) cannot be viewed as ", shape_str(s));
  if (!is_contiguous()) fail("view: input ", shape_str(shape_), " is not contiguous; use reshape()");
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const { return is_contiguous() ? view(shape) : contiguous().view(shape); }

Tensor Tensor::permute(const std::vector<int64_t>& axes) const {
  if (static_cast<int64_t>(axes.size()) != dim())
    fail("permute: ", axes.size(), " axes given for a tensor of shape ", shape_str(shape_));
  Tensor t = *this;
  std::vector<bool> seen(dim(), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int a = normalize_axis(axes[i], dim(), "permute");
    if (seen[a]) fail("permute: axis ", a, " repeated");
    seen[a] = true;
    t.shape_[i] = shape_[a];
    t.strides_[i] = strides_[a];
  }
  return t;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  int ia = normalize_axis(a, dim(), "transpose"), ib = normalize_axis(b, dim(), "transpose");
  Tensor t = *this;
  std::swap(t.shape_[ia], t.shape_[ib]);
  std::swap(t.strides_[ia], t.strides_[ib]);
  return t;
}

Tensor Tensor::narrow(int64_t axis, int64_t start, int64_t length) const {
  int a = normalize_axis(axis, dim(), "narrow");
  if (start < 0 || length < 0 || start + length > shape_[a])
    fail("narrow: [", start, ", ", start + length, ") out of range for axis ", a, " of size ", shape_[a],
         " in ", shape_str(shape_));
  Tensor t = *this;
  t.offset_ += start * strides_[a];
  t.shape_[a] = length;
  return t;
}

Tensor Tensor::select(int64_t axis, int64_t index) const {
  int a = normalize_axis(axis, dim(), "select");
  Tensor t = narrow(a, index, 1);
  t.shape_.erase(t.shape_.begin() + a);
  t.strides_.erase(t.strides_.begin() + a);
  return t;
}

Tensor Tensor::expand(const Shape& shape) const {
  if (shape.size() < shape_.size())
    fail("expand: cannot expand ", shape_str(shape_), " to fewer axes ", shape_str(shape));
  size_t lead = shape.size() - shape_.size();
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_.assign(shape.size(), 0);
  for (size_t i = lead; i < shape.size(); ++i) {
    int64_t d = shape_[i - lead];
    if (d == shape[i]) {
      t.strides_[i] = strides_[i - lead];
    } else if (d != 1) {
      fail("expand: cannot expand ", shape_str(shape_), " to ", shape_str(shape), " (axis ", i, ")");
    }
  }
  return t;
}

Tensor Tensor::unsqueeze(int64_t axis) const {
  int a = normalize_axis(axis, dim() + 1, "unsqueeze");
  Tensor t = *this;
  int64_t st = a < dim() ? strides_[a] * shape_[a] : 1;
  t.shape_.insert(t.shape_.begin() + a, 1);
  t.strides_.insert(t.strides_.begin() + a, st);
  return t;
}

Tensor Tensor::squeeze(int64_t axis) const {
  int a = normalize_axis(axis, dim(), "squeeze");
  if (shape_[a] != 1) fail("squeeze: axis ", a, " of ", shape_str(shape_), " has size ", shape_[a], ", not 1");
  Tensor t = *this;
  t.shape_.erase(t.shape_.begin() + a);
  t.strides_.erase(t.strides_.begin() + a);
  return t;
}

// --- copies
Tensor Tensor::contiguous() const {
  check_defined("contiguous", *this);
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  check_defined("clone", *this);
  Tensor t = empty(shape_, dtype_, device());
  strided_copy(t, *this);
  return t;
}

Tensor Tensor::to(Device d) const {
  check_defined("to", *this);
  if (d == device()) return *this;
  fail("to: this build of loradiff has no CUDA backend; cannot move a tensor to ", device_name(d));
}

Tensor Tensor::to(DType want) const {
  check_defined("to", *this);
  if (want == dtype_) return *this;
  Tensor src = contiguous();
  Tensor t = empty(shape_, want, device());
  int64_t n = numel();
  if (want == DType::F32) {
    const int32_t* s = src.i32();
    float* o = t.f32();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(s[i]);
  } else {
    const float* s = src.f32();
    int32_t* o = t.i32();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<int32_t>(s[i]);
  }
  return t;
}

void Tensor::copy_(const Tensor& src) {
  check_defined("copy_", *this);
  check_defined("copy_", src, "source");
  if (src.dtype_ != dtype_) fail("copy_: dtype ", dtype_name(src.dtype_), " into ", dtype_name(dtype_));
  broadcast_shapes(shape_, src.shape_, "copy_");  // validates
  strided_copy(*this, src.expand(shape_));
}

void Tensor::fill_(float value) {
  check_defined("fill_", *this);
  strided_fill(*this, value);
}

// --- reading values
float Tensor::item() const {
  if (numel() != 1) fail("item: tensor of shape ", shape_str(shape_), " has ", numel(), " elements, not 1");
  return dtype_ == DType::F32 ? *f32() : static_cast<float>(*i32());
}

float Tensor::at(const std::vector<int64_t>& index) const {
  if (static_cast<int64_t>(index.size()) != dim()) fail("at: ", index.size(), " indices for rank ", dim());
  int64_t off = 0;
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= shape_[i])
      fail("at: index ", index[i], " out of range for axis ", i, " of ", shape_str(shape_));
    off += index[i] * strides_[i];
  }
  return dtype_ == DType::F32 ? f32()[off] : static_cast<float>(i32()[off]);
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = to(DType::F32).contiguous();
  return std::vector<float>(c.f32(), c.f32() + c.numel());
}

std::vector<int32_t> Tensor::to_ints() const {
  Tensor c = to(DType::I32).contiguous();
  return std::vector<int32_t>(c.i32(), c.i32() + c.numel());
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream s;
  s << "Tensor" << shape_str(shape_) << " " << dtype_name(dtype_) << " [";
  std::vector<float> v = to_vector();
  for (size_t i = 0; i < v.size() && i < 8; ++i) s << (i ? ", " : "") << v[i];
  if (v.size() > 8) s << ", ...";
  s << "]";
  return s.str();
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a.device() != b.device())
    fail(op, ": inputs on different devices (", device_name(a.device()), " and ", device_name(b.device()), ")");
}

void check_dtype(const char* op, const Tensor& t, DType want, const char* what) {
  check_defined(op, t, what);
  if (t.dtype() != want)
    fail(op, ": ", what, " has dtype ", dtype_name(t.dtype()), ", expected ", dtype_name(want));
}

void check_defined(const char* op, const Tensor& t, const char* what) {
  if (!t.defined()) fail(op, ": ", what, " is an undefined tensor");
}

}  // namespace ld
