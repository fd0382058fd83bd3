// tensor/tensor.h: the N-d tensor of loradiff.
//
// A Tensor is a small value type: a reference-counted Storage (one flat buffer on
// one device) plus a view of it: shape, strides (in elements) and an offset.
// Copying a Tensor copies the view, not the data; views (reshape of contiguous
// data, permute, transpose, narrow, expand) share the Storage. See docs/tensor.md.
//
// This layer knows nothing of gradients: autograd/ wraps Tensors in graph nodes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/shape.h"

namespace ld {

enum class Device { CPU, CUDA };
enum class DType { F32, I32 };  // I32: token ids, labels, timesteps

const char* device_name(Device d);
const char* dtype_name(DType t);
size_t dtype_size(DType t);

// One flat, aligned allocation on one device. Freed when the last view goes.
struct Storage {
  void* ptr = nullptr;  // 64-byte aligned, inside block
  size_t nbytes = 0;
  Device device = Device::CPU;
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

 private:
  void* block = nullptr;  // what malloc returned (tensor/tensor.cpp says why not aligned_alloc)
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor: defined() == false

  // --- creation (contents of empty() are uninitialised)
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value, Device device = Device::CPU);
  static Tensor scalar(float value);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_ints(const std::vector<int32_t>& values, const Shape& shape);
  static Tensor arange(int64_t n);  // 0, 1, .., n-1 as F32

  // --- the view
  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t axis) const;  // negative axis counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::CPU; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Typed pointer to element [0,..,0] (storage + offset). Checks the dtype.
  float* f32() const;
  int32_t* i32() const;

  // --- views (no copy)
  Tensor view(const Shape& shape) const;     // contiguous input only; one size may be -1
  Tensor reshape(const Shape& shape) const;  // view when possible, else a contiguous copy
  Tensor permute(const std::vector<int64_t>& axes) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor narrow(int64_t axis, int64_t start, int64_t length) const;  // slice [start, start+length)
  Tensor select(int64_t axis, int64_t index) const;                  // narrow + drop the axis
  Tensor expand(const Shape& shape) const;                           // broadcast size-1 axes (stride 0)
  Tensor unsqueeze(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;

  // --- copies
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  void copy_(const Tensor& src);  // src broadcast to this shape
  void fill_(float value);
  void zero_() { fill_(0.0f); }

  // --- reading values (CPU copies)
  float item() const;  // one-element tensor
  float at(const std::vector<int64_t>& index) const;
  std::vector<float> to_vector() const;
  std::vector<int32_t> to_ints() const;
  std::string str() const;  // short printable form

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::F32;
};

// "matmul: a is on cuda and b on cpu" when devices differ.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_dtype(const char* op, const Tensor& t, DType want, const char* what = "input");
void check_defined(const char* op, const Tensor& t, const char* what = "input");

}  // namespace ld
