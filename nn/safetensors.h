// nn/safetensors.h: reading and writing the safetensors format (Hugging Face).
//
// Layout of a file:
//   8 bytes      N, the header length, unsigned little-endian
//   N bytes      a JSON object: for each tensor name
//                  {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//                and optionally "__metadata__": {string: string}; padded with spaces
//                (writers pad so that the data starts at a multiple of 8)
//   the rest     the raw little-endian data; offsets are relative to its start
//
// dtypes: F32 and I32 are read and written as they are. Read only, converted:
// F16, BF16 and F64 become F32 (F64 values outside float range fail), I64 becomes
// I32 (values outside int32 range fail). Other valid dtypes (BOOL, U8, I8, I16,
// U16, U32, U64, F8_*) are rejected with a message naming them.
//
// A file is never trusted: before any tensor is made, the reader checks that the
// header length is at most 100 MB and inside the file, the JSON is well formed
// and has no duplicate names, every entry has exactly dtype / shape / data_offsets
// of the right types, every dtype is known, shape sizes times the dtype size equal
// the byte range, and the byte ranges do not overlap and cover the data section
// exactly. Every failure is an ld::Error naming the file and the tensor.
// load_safetensors reads the header first and refuses a file whose size is not exactly
// 8 + header + the data the header describes (truncated, or with bytes appended) before it
// reads the data; it reads only regular files (tensor/file_io.h). Text from the file
// (names, metadata keys, parser messages) is quoted shortened, on one line (tensor/excerpt.h).
// Writing goes through write_file_atomic: a crash never leaves half a file.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "nn/module.h"

namespace ld::nn {

using Metadata = std::map<std::string, std::string>;

struct SafeTensors {
  StateDict tensors;  // name -> tensor, F32 or I32
  Metadata metadata;  // the "__metadata__" map, empty when absent
};

// The largest header accepted (the Rust reference implementation's limit).
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// The bytes of a file holding `tensors` (keys sorted, data in key order) and `metadata`.
std::string encode_safetensors(const StateDict& tensors, const Metadata& metadata = {});
// Parse and validate; `source` names the file in error messages.
SafeTensors decode_safetensors(std::string_view bytes, const std::string& source);

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {});
SafeTensors load_safetensors(const std::string& path);

// Throws "<source>: tensor '<name>' holds nan at element <i> of <n>; ..." for the first F32
// tensor (in name order) holding a NaN or an infinity. Every loader of weights calls it: a
// model that computes NaN would otherwise draw black images without a word.
void check_finite(const StateDict& tensors, const std::string& source);

}  // namespace ld::nn
