// fuzz/fuzz_idx.cpp: the IDX reader of MNIST files, plain and gzip'd.
//
// A half-downloaded or renamed MNIST file must give a clear error, never a crash or a huge
// allocation. The first input byte picks the path, so that mutations reach the IDX checks
// behind the decompressor too (a mutated gzip stream mostly fails its CRC):
//   even: the rest is given to data::parse_idx as it is (plain IDX, or a gzip stream that is
//         itself mutated: zlib errors, truncation, several members, trailing bytes)
//   odd:  the rest is gzip'd first, so parse_idx sees a valid stream around mutated IDX bytes.
// A file that parses is encoded again (encode_idx) and must parse to the same array.
#include "data/gzip.h"
#include "data/idx.h"
#include "fuzz/fuzz_common.h"
#include "tensor/error.h"

using namespace ld;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(fuzz::as_bytes(data + 1, size - 1));
  const std::string bytes = (data[0] & 1) ? data::gzip(rest) : rest;
  data::IdxArray a;
  try {
    a = data::parse_idx(bytes, "fuzz-idx3-ubyte");
  } catch (const Error&) {
    return 0;
  }
  if (a.numel() != static_cast<int64_t>(a.data.size())) __builtin_trap();
  for (bool compress : {false, true}) {
    const data::IdxArray b = data::parse_idx(data::encode_idx(a, compress), "re-encoded");
    if (b.dims != a.dims || b.data != a.data) __builtin_trap();
  }
  return 0;
}
