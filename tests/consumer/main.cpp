// Through the installed package: a typed actor under a supervisor, and a
// persistent actor whose events are stored with the opt-in JSON codec.
#include <weft/actors/server.hpp>
#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/json_codec.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/runtime/weft.hpp>
#include <weft/supervisor/supervisor.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace wp = weft::persistence;

// designated_options.cpp: every options struct spelled with designated
// initializers (built with -Wall -Wextra -Werror).
bool designated_options_keep_their_defaults();

struct twice {
  int x;
};
using doubler = weft::protocol<int(twice)>;

struct note {
  std::string text;
};
using notebook_protocol = weft::protocol<std::size_t(note)>;
struct noted {
  std::string text;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(noted, text)

struct notebook : wp::event_sourced<notebook_protocol, std::size_t, noted> {
  effect<std::size_t> on_command(const std::size_t&, const note& n) const {
    return persist(noted{n.text}).then_reply([](const std::size_t& count) { return count; });
  }
  void on_event(std::size_t& count, const noted&) const { ++count; }
};

struct hit {};
using hits_protocol = weft::protocol<int(hit)>;
class hit_counter {
 public:
  using protocol_type = hits_protocol;
  using self_type = weft::actors::server_context<hit_counter>;
  int handle_call(self_type&, hit) { return ++hits_; }

 private:
  int hits_ = 0;
};

int main() {
  if (!designated_options_keep_their_defaults()) {
    std::fprintf(stderr, "weft-consumer: a field left out of a designated initializer lost its default\n");
    return 1;
  }
  weft::runtime rt({.workers = 2});
  weft::scoped_actor self(rt);
  auto tree = weft::sup::start(
      rt, {.children = {weft::sup::worker("doubler", weft::stateful<doubler>(0, [](int&, twice t) { return 2 * t.x; }),
                                          {.name = "doubler"})}});
  auto d = weft::ref_cast<doubler>(rt.whereis("doubler"));
  if (!tree || !d || self.ask(*d, twice{21}) != 42) {
    std::fprintf(stderr, "weft-consumer: the supervised doubler did not answer 42\n");
    return 1;
  }
  weft::ref<hits_protocol> counter = rt.spawn(weft::actors::server<hit_counter>());
  if (weft::actors::call(self, counter, hit{}) != 1 || weft::actors::call(self, counter, hit{}) != 2) {
    std::fprintf(stderr, "weft-consumer: the actors::server did not count its calls\n");
    return 1;
  }
  const auto dir = std::filesystem::temp_directory_path() / ("weft-consumer-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  int status = 0;
  {
    auto journal = wp::open_file_journal(dir);
    auto book = rt.spawn(wp::persistent<notebook>({.persistence_id = "book", .journal = journal.get()}));
    if (self.ask(book, note{"hello"}) != 1u || self.ask(book, note{"again"}) != 2u) {
      std::fprintf(stderr, "weft-consumer: the persistent notebook did not count its notes\n");
      status = 1;
    }
    rt.shutdown();
  }
  std::filesystem::remove_all(dir);
  if (status == 0) std::printf("weft-consumer: installed weft works (typed, supervised, persistent, actors::server, JSON codec)\n");
  return status;
}
