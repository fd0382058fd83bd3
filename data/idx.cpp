// data/idx.cpp: IDX reading and writing with strict size checks (see idx.h for the layout).
#include "data/idx.h"

#include "data/gzip.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

namespace ld::data {

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

static uint32_t read_be32(const std::string& b, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(b[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 8) | static_cast<uint8_t>(b[at + 3]);
}

static void append_be32(std::string& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<char>((v >> shift) & 0xff));
}

static std::string hex(uint32_t v, int digits) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(digits, '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[i] = kDigits[v & 0xf];
  return "0x" + s;
}

static const char* idx_type_name(uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return nullptr;
  }
}

IdxArray parse_idx(const std::string& file_bytes, const std::string& name) {
  const std::string what = "'" + name + "'";
  std::string plain;
  const std::string* b = &file_bytes;
  if (is_gzip(file_bytes)) {
    plain = gunzip(file_bytes, what);
    b = &plain;
  }
  const std::string& bytes = *b;
  if (bytes.size() < 4)
    fail("IDX ", what, ": only ", bytes.size(), " bytes, expected at least a 4-byte header");
  const auto u8 = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  if (u8(0) != 0 || u8(1) != 0)
    fail("IDX ", what, ": bad magic number ", hex(read_be32(bytes, 0), 8),
         ", expected 0x000008dd (two zero bytes, type 0x08, dimension count)");
  const uint8_t type = u8(2);
  if (type != 0x08) {
    const char* tn = idx_type_name(type);
    fail("IDX ", what, ": element type ", hex(type, 2), " (", tn ? tn : "unknown",
         "); only 0x08 (unsigned byte), the type of MNIST, is supported");
  }
  const int ndim = u8(3);
  if (ndim < 1 || ndim > 8) fail("IDX ", what, ": ", ndim, " dimensions, expected 1 to 8");
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() < header)
    fail("IDX ", what, ": truncated header: ", bytes.size(), " bytes, expected ", header, " for ", ndim,
         " dimensions");
  IdxArray out;
  int64_t numel = 1;
  for (int i = 0; i < ndim; ++i) {
    const uint32_t d = read_be32(bytes, 4 + 4 * i);
    if (d == 0) fail("IDX ", what, ": dimension ", i, " has size 0");
    if (numel > (int64_t(1) << 36) / d)  // checked before multiplying: 2^36 * 2^32 overflows int64
      fail("IDX ", what, ": sizes multiply past 2^36 elements; corrupt header?");
    numel *= d;
    out.dims.push_back(d);
  }
  const size_t expected = header + static_cast<size_t>(numel);
  if (bytes.size() != expected) {
    std::string dims;
    for (size_t i = 0; i < out.dims.size(); ++i) dims += str_cat(i ? "x" : "", out.dims[i]);
    fail("IDX ", what, ": ", bytes.size() < expected ? "truncated: " : "trailing bytes: ", "the header says ",
         dims, " = ", numel, " bytes of data, so ", expected, " bytes in all, but the ",
         file_bytes.data() == bytes.data() ? "file" : "decompressed stream", " has ", bytes.size());
  }
  out.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return out;
}

IdxArray read_idx(const std::string& path) { return parse_idx(read_file(path), path); }

std::string encode_idx(const IdxArray& a, bool compress) {
  if (a.dims.empty() || a.dims.size() > 8)
    fail("IDX encode: ", a.dims.size(), " dimensions, expected 1 to 8");
  for (int64_t d : a.dims)
    if (d <= 0 || d > 0xffffffffLL) fail("IDX encode: dimension size ", d, " out of range 1..2^32-1");
  if (static_cast<int64_t>(a.data.size()) != a.numel())
    fail("IDX encode: ", a.data.size(), " data bytes but the dimensions give ", a.numel());
  std::string b;
  b.reserve(4 + 4 * a.dims.size() + a.data.size());
  b.push_back(0);
  b.push_back(0);
  b.push_back(0x08);
  b.push_back(static_cast<char>(a.dims.size()));
  for (int64_t d : a.dims) append_be32(b, static_cast<uint32_t>(d));
  b.append(reinterpret_cast<const char*>(a.data.data()), a.data.size());
  return compress ? gzip(b) : b;
}

void write_idx(const std::string& path, const IdxArray& array) {
  const bool gz = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  write_file_atomic(path, encode_idx(array, gz));
}

}  // namespace ld::data
