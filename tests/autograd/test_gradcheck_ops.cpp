// Every op's backward against finite differences (the case list is
// autograd/gradcheck_cases.cpp, shared with `loradiff gradcheck`).
#include <doctest/doctest.h>

#include "autograd/gradcheck_cases.h"

using namespace ld;

TEST_CASE("every op passes gradcheck") {
  auto cases = ag::gradcheck_cases();
  CHECK(cases.size() >= 50);
  for (auto& c : cases) {
    SUBCASE(c.name.c_str()) {
      auto r = ag::gradcheck(c.fn, c.inputs, c.options);
      INFO(c.name, ": ", r.message);
      CHECK(r.ok);
      CHECK(r.checked > 0);
    }
  }
}
