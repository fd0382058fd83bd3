// Tests of nn/safetensors: round trip, metadata, a file written by Python per the
// format rules (tests/fixtures/python.safetensors, tools/make_safetensors_fixture.py),
// and every corruption the reader must reject with a clear message.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "tensor/file_io.h"
#include "tensor/random.h"
#include "tests/temp_dir.h"

using namespace ld;
using namespace ld::nn;
using json = nlohmann::json;

namespace {

// A file from a header text and a data section, as a corrupt writer would make it.
std::string raw_file(const std::string& header, const std::string& data, uint64_t header_len = UINT64_MAX) {
  std::string out(8, '\0');
  const uint64_t n = header_len == UINT64_MAX ? header.size() : header_len;
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

std::string decode_error(const std::string& bytes) {
  try {
    decode_safetensors(bytes, "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// One F32 tensor "w" of shape (2) with the given header fields; 8 data bytes.
std::string one_tensor(const std::string& fields, const std::string& data = std::string(8, '\0')) {
  return raw_file("{\"w\":{" + fields + "}}", data);
}

std::filesystem::path temp_dir() {
  auto d =
      std::filesystem::temp_directory_path() / ("loradiff_test_safetensors_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace

TEST_CASE("round trip: F32 and I32, any rank, views, metadata; header aligned to 8 bytes") {
  Generator gen(1);
  StateDict sd;
  sd["a.weight"] = rand_normal({3, 4}, gen);
  sd["a.bias"] = rand_normal({4}, gen).narrow(0, 1, 2);  // a view with an offset
  sd["b.t"] = rand_normal({2, 3}, gen).transpose(0, 1);  // non-contiguous
  sd["ids"] = Tensor::from_ints({1, -2, 3}, {3});
  sd["scalar"] = Tensor::scalar(4.5f);
  sd["empty"] = Tensor::zeros({0, 5});
  Metadata meta{{"format", "loradiff"}, {"config", "{\"x\": 1}"}, {"unicode", "семь"}};
  const std::string path = (temp_dir() / "round.safetensors").string();
  save_safetensors(path, sd, meta);

  const std::string bytes = read_file(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  CHECK((8 + n) % 8 == 0);
  CHECK(bytes[8] == '{');

  SafeTensors back = load_safetensors(path);
  CHECK(back.metadata == meta);
  REQUIRE(back.tensors.size() == sd.size());
  for (auto& [name, t] : sd) {
    CAPTURE(name);
    const Tensor& b = back.tensors.at(name);
    CHECK(b.shape() == t.shape());
    CHECK(b.dtype() == t.dtype());
    if (t.dtype() == DType::F32) CHECK(b.to_vector() == t.to_vector());
    if (t.dtype() == DType::I32) CHECK(b.to_ints() == t.to_ints());
  }
  // no temporary file left beside it
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(temp_dir())) files += e.is_regular_file();
  CHECK(files == 1);
  std::filesystem::remove_all(temp_dir());
}

TEST_CASE("a file written by Python following the format rules loads, with dtype conversions") {
  const std::string dir = LORADIFF_SOURCE_DIR "/tests/fixtures/";
  SafeTensors st = load_safetensors(dir + "python.safetensors");
  const json want = json::parse(read_file(dir + "python_safetensors.json"));
  CHECK(st.metadata == want["metadata"].get<Metadata>());
  REQUIRE(st.tensors.size() == want["tensors"].size());
  for (auto& [name, w] : want["tensors"].items()) {
    CAPTURE(name);
    const Tensor& t = st.tensors.at(name);
    CHECK(t.shape() == w["shape"].get<Shape>());
    if (w["dtype"] == "F32") {
      REQUIRE(t.dtype() == DType::F32);
      CHECK(t.to_vector() ==
            w["values"].get<std::vector<float>>());  // exact: conversions are exact or rounded alike
    } else {
      REQUIRE(t.dtype() == DType::I32);
      CHECK(t.to_ints() == w["values"].get<std::vector<int32_t>>());
    }
  }
}

TEST_CASE("every corruption is rejected with a message naming the file and the tensor") {
  const std::string ok_fields = "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]";
  CHECK_NOTHROW(decode_safetensors(one_tensor(ok_fields), "ok"));

  struct Case {
    const char* what;
    std::string bytes;
    std::string expect;  // a part of the message
  };
  std::vector<Case> cases{
      {"shorter than 8 bytes", std::string(5, '\0'), "too short"},
      {"header length over 100 MB", raw_file("{}", "", 200'000'000), "exceeds the 100000000-byte limit"},
      {"header length past the end", raw_file("{}", "", 50), "runs past the end"},
      {"not JSON", raw_file("{\"w\":", ""), "not valid JSON"},
      {"JSON but not an object", raw_file("[1,2]   ", ""), "must be a JSON object"},
      {"invalid UTF-8", raw_file("{\"\xff\":1}", ""), "not valid JSON"},
      {"a duplicate name",
       raw_file("{\"w\":{" + ok_fields + "},\"w\":{" + ok_fields + "}}", std::string(8, '\0')),
       "'w' appears twice"},
      {"an entry that is not an object", raw_file("{\"w\":3}", ""),
       "tensor 'w': the header entry must be an object"},
      {"a missing field", one_tensor("\"dtype\":\"F32\",\"shape\":[2]"),
       "tensor 'w': the header entry lacks 'data_offsets'"},
      {"an unknown field", one_tensor(ok_fields + ",\"extra\":1"),
       "tensor 'w': unknown header field 'extra'"},
      {"an unknown dtype", one_tensor("\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]"),
       "tensor 'w': unknown dtype 'F33'"},
      {"an unsupported dtype", one_tensor("\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]"),
       "tensor 'w': dtype U8 is not supported"},
      {"a negative size", one_tensor("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"),
       "tensor 'w': shape [-2] must hold non-negative integers"},
      {"a fractional size", one_tensor("\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]"),
       "tensor 'w': shape"},
      {"shape and bytes disagree", one_tensor("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"),
       "tensor 'w': shape (3) of F32 needs 12 bytes but data_offsets [0, 8] hold 8"},
      {"a huge shape",
       one_tensor("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]"),
       "impossibly large"},
      {"offsets ending before they begin",
       one_tensor("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), "end before they begin"},
      {"offsets not a pair", one_tensor("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"),
       "[begin, end]"},
      {"offsets past the data", one_tensor(ok_fields, std::string(4, '\0')),
       "run past the 4-byte data section"},
      {"bytes left over", one_tensor(ok_fields, std::string(12, '\0')), "the tensors cover only 8"},
      {"a gap", one_tensor("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]", std::string(12, '\0')),
       "[0, 4) before tensor 'w' belong to no tensor"},
      {"overlapping tensors",
       raw_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                std::string(12, '\0')),
       "tensor 'b' bytes [4, 12) overlap tensor 'a' [0, 8)"},
      {"metadata not strings", raw_file("{\"__metadata__\":{\"k\":1}}", ""),
       "__metadata__ value of 'k' must be a string"},
      {"metadata not an object", raw_file("{\"__metadata__\":[]}", ""), "__metadata__ must be an object"},
  };
  std::string big_i64(8, '\0');
  const int64_t too_big = int64_t(1) << 40;
  std::memcpy(big_i64.data(), &too_big, 8);
  cases.push_back({"an I64 outside int32",
                   one_tensor("\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]", big_i64),
                   "tensor 'w': I64 value 1099511627776"});
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const std::string msg = decode_error(c.bytes);
    CHECK_MESSAGE(msg.find("bad.safetensors") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find(c.expect) != std::string::npos, msg);
  }
  CHECK_THROWS_WITH_AS(load_safetensors("/nonexistent/x.safetensors"),
                       doctest::Contains("/nonexistent/x.safetensors"), Error);
}

TEST_CASE("every truncation and random byte flips of a valid file fail cleanly or decode") {
  Generator gen(2);
  StateDict sd{{"x", rand_normal({3, 5}, gen)}, {"y", Tensor::from_ints({1, 2}, {2})}};
  const std::string good = encode_safetensors(sd, {{"k", "v"}});
  for (size_t len = 0; len < good.size(); ++len)
    CHECK_THROWS_AS(decode_safetensors(good.substr(0, len), "t"), Error);
  int decoded = 0, rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string b = good;
    const size_t pos = static_cast<size_t>(gen.next_int(static_cast<int64_t>(b.size())));
    b[pos] = static_cast<char>(gen.next_int(256));
    try {
      decode_safetensors(b, "t");
      ++decoded;
    } catch (const Error&) {
      ++rejected;
    }
  }
  CHECK(decoded + rejected == 2000);
  CHECK(rejected > 100);
}

TEST_CASE("a file larger or smaller than its header describes is refused before its data is read") {
  ld::test::TempDir tmp("test-safetensors-size");
  Generator gen(3);
  const std::string good = encode_safetensors({{"w", rand_normal({4, 4}, gen)}}, {{"k", "v"}});
  const std::string path = tmp / "m.safetensors";
  write_file_atomic(path, good);
  CHECK_NOTHROW(load_safetensors(path));
  const std::string want =
      "'" + path + "' is 5000000000 bytes but its header describes " + std::to_string(good.size()) + " bytes";
  // 5 GB, sparse: reading it would take seconds and 5 GB of memory, the header check takes none
  REQUIRE(::truncate(path.c_str(), 5'000'000'000) == 0);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(want.c_str()), Error);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  // 10 MB of zeros appended, and a truncated file
  write_file_atomic(path, good + std::string(10'000'000, '\0'));
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("belong to no tensor"), Error);
  write_file_atomic(path, good.substr(0, good.size() - 1));
  const std::string shorter = "is " + std::to_string(good.size() - 1) + " bytes but its header describes " +
                              std::to_string(good.size()) + " bytes (8 + a ";
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(shorter.c_str()), Error);
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("truncated"), Error);
  // decode_safetensors (the in-memory reader the fuzzer drives) keeps its own messages
  CHECK_THROWS_WITH_AS(decode_safetensors(good + "x", "mem"), doctest::Contains("the tensors cover only"),
                       Error);
  // the header checks still run first
  write_file_atomic(path, std::string("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13));
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("runs past the end of the 13-byte file"),
                       Error);
  write_file_atomic(path, "abc");
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("3 bytes is too short"), Error);
}

TEST_CASE("check_finite names the file, the tensor and the first bad element") {
  StateDict sd{
      {"a", Tensor::zeros({3, 4})}, {"b", Tensor::zeros({10})}, {"ids", Tensor::from_ints({1, 2}, {2})}};
  CHECK_NOTHROW(check_finite(sd, "m.safetensors"));
  sd["b"].f32()[7] = std::numeric_limits<float>::quiet_NaN();
  sd["b"].f32()[9] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(check_finite(sd, "m.safetensors"),
                       doctest::Contains("m.safetensors: tensor 'b' holds nan at element 7 of 10"), Error);
  sd["a"].f32()[5] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(check_finite(sd, "m.safetensors"),
                       doctest::Contains("tensor 'a' holds -inf at element 5 of 12"), Error);
}

TEST_CASE("text from the file is quoted short and on one line") {
  // a 1 MB metadata key holding newlines, whose value is not a string
  const std::string key = "line one\nline two" + std::string(1'000'000, 'k');
  const std::string bytes = raw_file(json{{"__metadata__", {{key, 1}}}}.dump(), "");
  const std::string msg = decode_error(bytes);
  CHECK(msg.find("must be a string") != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.size() < 300);
  // a long invalid header: the JSON parser's message is cut too
  const std::string junk = "{\"" + std::string(1'000'000, 'j') + "\n";
  const std::string msg2 = decode_error(raw_file(junk, ""));
  CHECK(msg2.find("not valid JSON") != std::string::npos);
  CHECK(msg2.find('\n') == std::string::npos);
  CHECK(msg2.size() < 400);
}
