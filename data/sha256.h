// data/sha256.h: SHA-256 (FIPS 180-4), to verify the downloaded MNIST package and
// to fingerprint files (e.g. the model hash written into PNG metadata).
#pragma once
#include <string>
#include <string_view>

namespace ld::data {

// Lower-case hex digest, 64 characters: sha256_hex("abc") == "ba7816bf...".
std::string sha256_hex(std::string_view bytes);

}  // namespace ld::data
