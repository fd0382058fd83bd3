// nn/safetensors.cpp: see safetensors.h for the format and the checks.
#include "nn/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "tensor/elementwise.h"
#include "tensor/excerpt.h"
#include "tensor/file_io.h"

namespace ld::nn {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; so is this code");

namespace {

using json = nlohmann::json;

// How much of a tensor name, and of a JSON parser's message, an error quotes.
constexpr size_t kNameChars = 120, kJsonErrorChars = 160;

// The dtypes of the format, with their sizes in bytes, and what loradiff does with each.
enum class Read { Direct, ConvertF32, ConvertI32, Reject };
struct DtypeInfo {
  const char* name;
  size_t size;
  Read read;
};
constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, Read::Direct},      {"I32", 4, Read::Direct},     {"F16", 2, Read::ConvertF32},
    {"BF16", 2, Read::ConvertF32}, {"F64", 8, Read::ConvertF32}, {"I64", 8, Read::ConvertI32},
    {"BOOL", 1, Read::Reject},     {"U8", 1, Read::Reject},      {"I8", 1, Read::Reject},
    {"I16", 2, Read::Reject},      {"U16", 2, Read::Reject},     {"U32", 4, Read::Reject},
    {"U64", 8, Read::Reject},      {"F8_E4M3", 1, Read::Reject}, {"F8_E5M2", 1, Read::Reject},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const DtypeInfo& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

// IEEE half -> float, including subnormals, infinities and NaN.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | static_cast<uint32_t>(112 - e) << 23 | ((mant & 0x3ff) << 13);
  }
  return std::bit_cast<float>(bits);
}

template <class T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// One tensor entry of the header, validated.
struct Entry {
  std::string name;
  const DtypeInfo* dtype;
  Shape shape;
  uint64_t begin, end;
};

Tensor make_tensor(const Entry& e, const char* data, const std::string& where) {
  const int64_t n = shape_numel(e.shape);
  const char* src = data + e.begin;
  const std::string dt = e.dtype->name;
  if (dt == "F32" || dt == "I32") {
    Tensor t = Tensor::empty(e.shape, dt == "F32" ? DType::F32 : DType::I32);
    if (n > 0) std::memcpy(t.storage()->ptr, src, static_cast<size_t>(n) * 4);
    return t;
  }
  if (e.dtype->read == Read::ConvertI32) {  // I64
    Tensor t = Tensor::empty(e.shape, DType::I32);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = load_le<int64_t>(src + 8 * i);
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        fail(where, ": I64 value ", v, " at element ", i, " does not fit the I32 it is read into");
      t.i32()[i] = static_cast<int32_t>(v);
    }
    return t;
  }
  Tensor t = Tensor::empty(e.shape, DType::F32);
  float* out = t.f32();
  for (int64_t i = 0; i < n; ++i) {
    if (dt == "F16") {
      out[i] = half_to_float(load_le<uint16_t>(src + 2 * i));
    } else if (dt == "BF16") {
      out[i] = std::bit_cast<float>(static_cast<uint32_t>(load_le<uint16_t>(src + 2 * i)) << 16);
    } else {  // F64
      const double v = load_le<double>(src + 8 * i);
      if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max())
        fail(where, ": F64 value ", v, " at element ", i, " is outside the F32 range it is read into");
      out[i] = static_cast<float>(v);
    }
  }
  return t;
}

// Reads a non-negative integer that fits in uint64 from a JSON value.
bool as_u64(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

Entry parse_entry(const std::string& name, const json& v, const std::string& where) {
  if (name.empty()) fail(where, ": a tensor has an empty name");
  if (!v.is_object()) fail(where, ": the header entry must be an object, got ", v.type_name());
  for (const auto& [k, _] : v.items())
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      fail(where, ": unknown header field '", excerpt(k), "'");
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!v.contains(k)) fail(where, ": the header entry lacks '", k, "'");
  Entry e;
  e.name = name;
  if (!v["dtype"].is_string()) fail(where, ": dtype must be a string");
  const std::string dt = v["dtype"].get<std::string>();
  e.dtype = find_dtype(dt);
  if (!e.dtype) fail(where, ": unknown dtype '", excerpt(dt), "'");
  if (e.dtype->read == Read::Reject)
    fail(where, ": dtype ", dt,
         " is not supported (loradiff reads F32 and I32, and converts F16, BF16, F64 to F32 ",
         "and I64 to I32)");
  if (!v["shape"].is_array()) fail(where, ": shape must be an array of sizes");
  uint64_t elements = 1;
  for (const json& d : v["shape"]) {
    uint64_t s;
    if (!as_u64(d, s) || s > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(where, ": shape ", excerpt(v["shape"].dump()), " must hold non-negative integers");
    if (s != 0 && elements > std::numeric_limits<uint64_t>::max() / s / 8)
      fail(where, ": shape ", excerpt(v["shape"].dump()), " is impossibly large");
    elements *= s;
    e.shape.push_back(static_cast<int64_t>(s));
  }
  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !as_u64(off[0], e.begin) || !as_u64(off[1], e.end))
    fail(where, ": data_offsets must be [begin, end], two non-negative integers");
  if (e.end < e.begin) fail(where, ": data_offsets [", e.begin, ", ", e.end, "] end before they begin");
  const uint64_t nbytes = elements * e.dtype->size;
  if (e.end - e.begin != nbytes)
    fail(where, ": shape ", shape_str(e.shape), " of ", dt, " needs ", nbytes, " bytes but data_offsets [",
         e.begin, ", ", e.end, "] hold ", e.end - e.begin);
  return e;
}

// nlohmann::json keeps the last of duplicate keys silently; the parser callback
// sees every key, so a repeated top-level name is caught here.
json parse_header(std::string_view text, const std::string& source) {
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    fail(source, ": the safetensors header is not valid JSON: ", excerpt(e.what(), kJsonErrorChars));
  }
  if (!duplicate.empty())
    fail(source, ": tensor '", excerpt(duplicate, kNameChars), "' appears twice in the header");
  if (!header.is_object())
    fail(source, ": the safetensors header must be a JSON object, got ", header.type_name());
  return header;
}

// The header length (the first 8 bytes) of a `file_size`-byte file, checked.
uint64_t header_length(std::string_view first8, uint64_t file_size, const std::string& source) {
  const uint64_t n = load_le<uint64_t>(first8.data());
  if (n > kMaxSafetensorsHeader)
    fail(source, ": header length ", n, " exceeds the ", kMaxSafetensorsHeader,
         "-byte limit (not a safetensors file?)");
  if (n > file_size - 8)
    fail(source, ": header length ", n, " runs past the end of the ", file_size, "-byte file");
  if (n < 2) fail(source, ": header length ", n, " is too short for a JSON object");
  return n;
}

// What a header describes: the metadata, and the entries sorted by offset, checked to
// tile [0, data_bytes) without overlaps or gaps.
struct Layout {
  Metadata metadata;
  std::vector<Entry> entries;
  uint64_t data_bytes = 0;
};

Layout parse_layout(std::string_view header_text, const std::string& source) {
  const json header = parse_header(header_text, source);
  Layout out;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) fail(source, ": __metadata__ must be an object of strings");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string())
          fail(source, ": __metadata__ value of '", excerpt(k), "' must be a string, got ", s.type_name());
        out.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    out.entries.push_back(
        parse_entry(name, v, str_cat(source, ": tensor '", excerpt(name, kNameChars), "'")));
  }
  std::sort(out.entries.begin(), out.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : out.entries) {
    if (e.begin < pos)
      fail(source, ": tensor '", excerpt(e.name, kNameChars), "' bytes [", e.begin, ", ", e.end,
           ") overlap tensor '", excerpt(prev->name, kNameChars), "' [", prev->begin, ", ", prev->end, ")");
    if (e.begin > pos)
      fail(source, ": data bytes [", pos, ", ", e.begin, ") before tensor '", excerpt(e.name, kNameChars),
           "' belong to no tensor");
    pos = e.end;
    prev = &e;
  }
  out.data_bytes = pos;
  return out;
}

// The tensors of a checked layout from its data section (data_bytes long).
SafeTensors make_tensors(Layout layout, const char* data, const std::string& source) {
  SafeTensors out;
  out.metadata = std::move(layout.metadata);
  for (const Entry& e : layout.entries)
    out.tensors[e.name] =
        make_tensor(e, data, str_cat(source, ": tensor '", excerpt(e.name, kNameChars), "'"));
  return out;
}

}  // namespace

std::string encode_safetensors(const StateDict& tensors, const Metadata& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__") fail("safetensors: invalid tensor name '", name, "'");
    check_defined("safetensors", t, name.c_str());
    if (t.device() != Device::CPU) fail("safetensors: tensor '", name, "' must be on the CPU to be written");
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", t.dtype() == DType::F32 ? "F32" : "I32"},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  out += text;
  out.reserve(out.size() + offset);
  for (const auto& [name, t] : tensors) {
    Tensor c = t.contiguous();
    if (c.numel() > 0)
      out.append(static_cast<const char*>(c.storage()->ptr) + c.offset() * dtype_size(c.dtype()),
                 static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
  }
  return out;
}

SafeTensors decode_safetensors(std::string_view bytes, const std::string& source) {
  if (bytes.size() < 8)
    fail(source, ": ", bytes.size(),
         " bytes is too short for a safetensors file (8-byte header length first)");
  const uint64_t n = header_length(bytes.substr(0, 8), bytes.size(), source);
  Layout layout = parse_layout(bytes.substr(8, n), source);
  const uint64_t data_size = bytes.size() - 8 - n;
  for (const Entry& e : layout.entries)
    if (e.end > data_size)
      fail(source, ": tensor '", excerpt(e.name, kNameChars), "' bytes [", e.begin, ", ", e.end,
           ") run past the ", data_size, "-byte data section");
  if (layout.data_bytes != data_size)
    fail(source, ": the data section is ", data_size, " bytes but the tensors cover only ",
         layout.data_bytes);
  return make_tensors(std::move(layout), bytes.data() + 8 + n, source);
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  write_file_atomic(path, encode_safetensors(tensors, metadata));
}

// The header first: a file larger (or smaller) than its header describes is refused before
// its data is read, and only the bytes the header names are read.
SafeTensors load_safetensors(const std::string& path) {
  InputFile file(path);
  if (file.size() < 8)
    fail(path, ": ", file.size(), " bytes is too short for a safetensors file (8-byte header length first)");
  const uint64_t n = header_length(file.read_at(0, 8), file.size(), path);
  Layout layout = parse_layout(file.read_at(8, n), path);
  const uint64_t described = 8 + n + layout.data_bytes;
  if (file.size() != described)
    fail("'", path, "' is ", file.size(), " bytes but its header describes ", described, " bytes (8 + a ", n,
         "-byte header + ", layout.data_bytes, " bytes of tensor data); the file is ",
         file.size() < described ? "truncated" : "followed by bytes that belong to no tensor",
         " (an incomplete download or copy?)");
  const std::string data = file.read_at(8 + n, layout.data_bytes);
  return make_tensors(std::move(layout), data.data(), path);
}

void check_finite(const StateDict& tensors, const std::string& source) {
  for (const auto& [name, t] : tensors) {
    if (t.dtype() != DType::F32 || !has_non_finite(t)) continue;  // the fast scan first
    const Tensor c = t.contiguous();
    const float* p = c.f32();
    int64_t i = 0;
    while (i < c.numel() && std::isfinite(p[i])) ++i;
    fail(source, ": tensor '", excerpt(name, kNameChars), "' holds ", p[i], " at element ", i, " of ",
         c.numel(), "; a damaged file or one saved from a diverged training run, refused");
  }
}

}  // namespace ld::nn
