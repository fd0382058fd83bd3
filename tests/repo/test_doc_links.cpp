// tests/repo/test_doc_links.cpp: the repository is self-contained and its documentation has no dead
// links. Every relative link in every Markdown file (README.md, docs/, folders' notes) must name a file
// or folder that exists inside the repository; no file of the project may point outside it (to the
// course material folder beside a checkout, or another checkout). Web links (http, https, mailto) and
// in-page anchors are not checked.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::weakly_canonical(LORADIFF_SOURCE_DIR);

// Generated or fetched trees, not the project's own text.
bool skipped(const fs::path& p) {
  const std::string rel = fs::relative(p, kRoot).generic_string();
  for (const char* prefix : {"build", ".git", "runs", "data/mnist", "fuzz/corpus", "node_modules"})
    if (rel == prefix || rel.rfind(std::string(prefix) + "/", 0) == 0 ||
        rel.rfind(std::string(prefix) + "-", 0) == 0)
      return true;
  return false;
}

std::vector<fs::path> files_with(const std::vector<std::string>& extensions,
                                 const std::vector<std::string>& names) {
  std::vector<fs::path> out;
  for (auto it = fs::recursive_directory_iterator(kRoot); it != fs::recursive_directory_iterator(); ++it) {
    if (skipped(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    const std::string ext = it->path().extension().string(), name = it->path().filename().string();
    for (const auto& e : extensions)
      if (ext == e) out.push_back(it->path());
    for (const auto& n : names)
      if (name == n) out.push_back(it->path());
  }
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("every relative link in the Markdown files names something inside the repository") {
  const std::regex link(R"(\]\(([^)\s]+)(?:\s+"[^"]*")?\))");
  int checked = 0;
  std::vector<std::string> dead;
  for (const fs::path& md : files_with({".md"}, {})) {
    const std::string text = read(md);
    bool in_code = false;
    std::istringstream lines(text);
    int lineno = 0;
    for (std::string line; std::getline(lines, line);) {
      ++lineno;
      if (line.rfind("```", 0) == 0) in_code = !in_code;
      if (in_code) continue;
      for (std::sregex_iterator m(line.begin(), line.end(), link), end; m != end; ++m) {
        std::string target = (*m)[1];
        if (target.find("://") != std::string::npos || target.rfind("mailto:", 0) == 0 || target[0] == '#')
          continue;
        target = target.substr(0, target.find('#'));
        const fs::path resolved = fs::weakly_canonical(md.parent_path() / target);
        const std::string where =
            fs::relative(md, kRoot).generic_string() + ":" + std::to_string(lineno) + ": " + target;
        ++checked;
        const auto rel = fs::relative(resolved, kRoot).generic_string();
        if (rel.rfind("..", 0) == 0)
          dead.push_back(where + " (outside the repository)");
        else if (!fs::exists(resolved))
          dead.push_back(where + " (missing)");
      }
    }
  }
  for (const auto& d : dead) MESSAGE("dead link: " << d);
  CHECK(dead.empty());
  CHECK(checked > 30);  // the docs do link to the code; a broken regex would check nothing
}

TEST_CASE("no file of the project points outside the repository") {
  // The folder beside a checkout that holds the course material; its name is assembled here so that this
  // test, too, names nothing outside the repository.
  const std::string beside = std::string("sha") + "red/";
  const std::vector<std::string> outside{"../" + beside, beside + "reference-model", beside + "article",
                                         beside + "style"};
  std::vector<std::string> found;
  for (const fs::path& f : files_with({".cpp", ".h", ".md", ".py", ".sh", ".json", ".cmake", ".txt", ".in"},
                                      {"CMakeLists.txt", "run"})) {
    std::istringstream lines(read(f));
    int lineno = 0;
    for (std::string line; std::getline(lines, line);) {
      ++lineno;
      for (const auto& s : outside)
        if (line.find(s) != std::string::npos)
          found.push_back(fs::relative(f, kRoot).generic_string() + ":" + std::to_string(lineno) + ": " + s);
    }
  }
  for (const auto& f : found) MESSAGE("points outside the repository: " << f);
  CHECK(found.empty());
}
