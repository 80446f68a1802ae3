// The small pure parts of the shell: pid spellings and name suggestions.

#include "resolve.hpp"

#include <weft/shell/client.hpp>

#include <doctest/doctest.h>

using namespace weft::shell::detail;

TEST_CASE("a pid is accepted as <0.42.0>, 0.42.0 or 42, and anything else is a name") {
  CHECK(parse_pid("<0.42.0>") == 42u);
  CHECK(parse_pid("0.42.0") == 42u);
  CHECK(parse_pid("42") == 42u);
  CHECK_FALSE(parse_pid("<0.42.1>").has_value());
  CHECK_FALSE(parse_pid("rooms").has_value());
  CHECK_FALSE(parse_pid("42x").has_value());
  CHECK_FALSE(parse_pid("<>").has_value());
}

TEST_CASE("edit distance counts insertions, deletions and substitutions") {
  CHECK(edit_distance("rooms", "roomz") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("a suggestion is offered for a typo but not for an unrelated word") {
  const std::vector<std::string> names = {"rooms", "lobby", "clock"};
  CHECK(closest("roomz", names) == "rooms");
  CHECK(closest("lobyy", names) == "lobby");
  CHECK(closest("database", names).empty());
  CHECK(closest("x", names).empty());
}

TEST_CASE("an address with a port is TCP and anything with a slash is a socket path") {
  CHECK(weft::shell::parse_address("127.0.0.1:4000").is_tcp());
  CHECK(weft::shell::parse_address("127.0.0.1:4000").port == 4000);
  CHECK(weft::shell::parse_address(":4000").host == "127.0.0.1");
  CHECK_FALSE(weft::shell::parse_address("/tmp/weft-0/a:1.sock").is_tcp());
  CHECK(weft::shell::parse_address("/tmp/x.sock").unix_path == "/tmp/x.sock");
}
