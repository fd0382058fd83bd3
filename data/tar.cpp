// data/tar.cpp: a minimal ustar reader. Each member is a 512-byte header (name at 0,
// size in octal at 124, checksum at 148, type flag at 156, ustar prefix at 345) then
// its data padded to a multiple of 512; two zero blocks end the archive. PAX
// extended headers ('x', 'g') and GNU long names ('L') are understood well enough
// to name files; other non-regular members are skipped.
#include "data/tar.h"

#include <cstdint>

#include "tensor/error.h"

namespace ld::data {

static uint64_t parse_octal(const char* p, size_t n, const std::string& name, size_t at) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\0')) ++i;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; ++i) v = v * 8 + static_cast<uint64_t>(p[i] - '0');
  for (; i < n; ++i)
    if (p[i] != ' ' && p[i] != '\0') fail("tar '", name, "': header at byte ", at, " has a bad octal field");
  return v;
}

static std::string cstr(const char* p, size_t n) {
  size_t len = 0;
  while (len < n && p[len] != '\0') ++len;
  return std::string(p, len);
}

// "path=..." record of a PAX header: "<len> path=<value>\n"
static std::string pax_path(const std::string& body) {
  size_t pos = 0;
  while (pos < body.size()) {
    size_t space = body.find(' ', pos);
    if (space == std::string::npos || space == pos) break;
    size_t len = 0;
    for (size_t i = pos; i < space; ++i) {
      if (body[i] < '0' || body[i] > '9') return "";
      len = len * 10 + static_cast<size_t>(body[i] - '0');
    }
    if (len <= space - pos + 1 || pos + len > body.size()) break;
    std::string rec = body.substr(space + 1, pos + len - space - 2);  // without the trailing newline
    if (rec.rfind("path=", 0) == 0) return rec.substr(5);
    pos += len;
  }
  return "";
}

std::vector<TarEntry> read_tar(const std::string& bytes, const std::string& name) {
  std::vector<TarEntry> out;
  std::string next_name;  // from a PAX or GNU long-name member, applies to the next file
  size_t pos = 0;
  while (true) {
    if (pos + 512 > bytes.size())
      fail("tar '", name, "': truncated: no end-of-archive marker (archive ends at byte ", bytes.size(), ")");
    const char* h = bytes.data() + pos;
    bool zero = true;
    for (int i = 0; i < 512 && zero; ++i) zero = h[i] == '\0';
    if (zero) break;
    uint64_t sum = 0;
    for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<uint8_t>(h[i]);
    if (sum != parse_octal(h + 148, 8, name, pos))
      fail("tar '", name, "': header at byte ", pos, " fails its checksum (corrupt archive)");
    const uint64_t size = parse_octal(h + 124, 12, name, pos);
    const char type = h[156];
    std::string path = cstr(h, 100);
    if (cstr(h + 257, 6) == "ustar") {
      std::string prefix = cstr(h + 345, 155);
      if (!prefix.empty()) path = prefix + "/" + path;
    }
    const size_t data_at = pos + 512;
    if (data_at + size > bytes.size())
      fail("tar '", name, "': truncated: member '", path, "' needs ", size, " bytes, only ",
           bytes.size() - data_at, " remain");
    std::string body = bytes.substr(data_at, size);
    if (type == 'x') {
      next_name = pax_path(body);
    } else if (type == 'L') {
      next_name = cstr(body.data(), body.size());
    } else if (type == '0' || type == '\0' || type == '7') {
      out.push_back({next_name.empty() ? path : next_name, std::move(body)});
      next_name.clear();
    } else {
      next_name.clear();
    }
    pos = data_at + (size + 511) / 512 * 512;
  }
  return out;
}

}  // namespace ld::data
