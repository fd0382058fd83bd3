// data/gzip.cpp: gzip through zlib's inflate/deflate with windowBits 16+15 (gzip framing).
#include "data/gzip.h"

#include <zlib.h>

#include "tensor/error.h"

namespace ld::data {

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

std::string gunzip(std::string_view bytes, const std::string& what) {
  if (!is_gzip(bytes)) fail("gunzip ", what, ": not a gzip stream (expected the magic bytes 1f 8b)");
  std::string out;
  size_t pos = 0;
  // Each iteration decodes one gzip member; files made by `cat a.gz b.gz` have several.
  while (pos < bytes.size()) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail("gunzip ", what, ": zlib could not start");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + pos));
    zs.avail_in = static_cast<uInt>(bytes.size() - pos);
    int ret = Z_OK;
    char buf[1 << 16];
    while (ret != Z_STREAM_END) {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof(buf);
      ret = inflate(&zs, Z_NO_FLUSH);
      if (ret != Z_OK && ret != Z_STREAM_END) {
        std::string msg = zs.msg ? zs.msg : "error " + std::to_string(ret);
        bool truncated = (ret == Z_BUF_ERROR && zs.avail_in == 0);
        inflateEnd(&zs);
        if (truncated) fail("gunzip ", what, ": truncated: the stream ends before its end marker");
        fail("gunzip ", what, ": corrupt data (zlib: ", msg, ")");
      }
      out.append(buf, sizeof(buf) - zs.avail_out);
    }
    pos = bytes.size() - zs.avail_in;
    inflateEnd(&zs);
    // Trailing zero padding after the last member (some tools write it) is not another member.
    if (!is_gzip(bytes.substr(pos))) break;
  }
  return out;
}

std::string gzip(std::string_view bytes, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fail("gzip: zlib could not start (level ", level, ", expected 0..9)");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  std::string out(deflateBound(&zs, static_cast<uLong>(bytes.size())), '\0');
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int ret = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (ret != Z_STREAM_END) fail("gzip: zlib deflate failed (error ", ret, ")");
  out.resize(zs.total_out);
  return out;
}

}  // namespace ld::data
