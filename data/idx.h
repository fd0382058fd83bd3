// data/idx.h: the IDX file format of MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).
//
// An IDX file is a big-endian header and a flat array:
//   bytes 0-1  zero
//   byte  2    element type: 0x08 unsigned byte (the only type MNIST uses and the only one read here)
//   byte  3    number of dimensions d
//   then d     32-bit big-endian sizes, outermost first
//   then       prod(sizes) elements, row-major
// So images are magic 0x00000803 with sizes (N, 28, 28), labels 0x00000801 with (N).
// Files may be gzip'd (detected from the bytes, not the name).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ld::data {

struct IdxArray {
  std::vector<int64_t> dims;  // outermost first
  std::vector<uint8_t> data;  // prod(dims) bytes, row-major
  int64_t numel() const;
};

// Parse IDX bytes (plain or gzip'd). Checks the magic, the element type, the
// dimension count, that no size is zero or absurd, and that the data length equals
// prod(dims) exactly. `name` appears in every error.
IdxArray parse_idx(const std::string& bytes, const std::string& name);
IdxArray read_idx(const std::string& path);

// Serialise as plain IDX, gzip'd when `compress`.
std::string encode_idx(const IdxArray& array, bool compress);
// Atomic write; gzip'd when the path ends in ".gz".
void write_idx(const std::string& path, const IdxArray& array);

}  // namespace ld::data
