// `loradiff gradcheck`: runs the finite-difference gradient check of every op
// (autograd/gradcheck_cases.cpp) and prints one JSON line per case.
#include <iostream>
#include <regex>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "autograd/gradcheck_cases.h"

namespace ld::app {

void register_gradcheck(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("gradcheck", "check every op's backward against finite differences");
  auto filter = std::make_shared<std::string>(".*");
  cmd->add_option("--filter", *filter, "regular expression on case names (e.g. 'conv2d')");
  cmd->callback([&run, filter] {
    run = [filter] {
      std::regex re;
      try {
        re = std::regex(*filter);
      } catch (const std::regex_error&) {
        throw Error(str_cat("--filter: '", *filter, "' is not a valid regular expression"));
      }
      int failed = 0, total = 0;
      for (auto& c : ag::gradcheck_cases()) {
        if (!std::regex_search(c.name, re)) continue;
        auto r = ag::gradcheck(c.fn, c.inputs, c.options);
        ++total;
        failed += !r.ok;
        nlohmann::json j{{"case", c.name}, {"ok", r.ok}, {"elements", r.checked}, {"max_abs_error", r.max_abs_error}};
        if (!r.ok) j["message"] = r.message;
        std::cout << j.dump() << "\n";
      }
      std::cout << "{\"summary\":\"gradcheck\",\"cases\":" << total << ",\"failed\":" << failed << "}" << std::endl;
      if (total == 0) throw Error(str_cat("--filter: '", *filter, "' matches no gradcheck case"));
      return failed ? 1 : 0;
    };
  });
}

}  // namespace ld::app
