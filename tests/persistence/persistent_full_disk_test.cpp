// A full disk fails the write cleanly: the command gets write_failed, the
// actor stops with the same text (its supervisor decides what next), and
// every acknowledged event is still there. RLIMIT_FSIZE stands in for a
// full disk: writes past it fail with EFBIG, which the journal reports as
// disk_full.

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>

#include "counter_support.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <string>

using namespace weft::persistence;
using namespace weft::persistence::test;
using namespace std::chrono_literals;

namespace {

// Lowers the file size limit for its lifetime (and ignores SIGXFSZ, which
// would otherwise kill the process at the first write past it).
class file_size_limit {
 public:
  explicit file_size_limit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, previous_handler_);
  }
  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;

 private:
  rlimit saved_{};
  sighandler_t previous_handler_;
};

// A note is stored as it is; the reply is how many notes there are.
struct notes : event_sourced<weft::protocol<std::int64_t(std::string)>, std::int64_t, std::string> {
  effect<std::int64_t> on_command(const std::int64_t&, const std::string& text) const {
    return persist(text).then_reply([](const std::int64_t& count) { return count; });
  }
  void on_event(std::int64_t& count, const std::string&) const { ++count; }
};

persistent_options<std::int64_t, std::string> notes_options(journal* j) {
  persistent_options<std::int64_t, std::string> o;
  o.persistence_id = "notes";
  o.journal = j;
  return o;
}

}  // namespace

TEST_CASE("a full disk gives the command an error and stops the actor with that reason") {
  temp_dir dir;
  std::int64_t acknowledged = 0;
  std::string error_text;
  {
    auto j = open_file_journal(dir / "journal");
    weft::runtime_options ro;
    ro.workers = 2;
    weft::runtime rt(ro);
    weft::scoped_actor self(rt);
    watched w(self, persistent<notes>(notes_options(j.get())));
    REQUIRE(self.ask(w.ref(), get_state{}, 20s).has_value());  // recovered before the limit
    const std::string note(4096, 'n');
    {
      file_size_limit limit(64 * 1024);
      for (int i = 0; i < 100; ++i) {
        auto r = self.ask(w.ref(), note, 20s);
        if (!r) {
          CHECK(r.error() == command_errc::write_failed);
          error_text = std::string(r.error().detail());
          break;
        }
        CHECK(*r == acknowledged + 1);
        ++acknowledged;
      }
    }
    CAPTURE(error_text);
    CHECK(acknowledged >= 10);
    CHECK(error_text.starts_with("persistent actor 'notes': writing events " + std::to_string(acknowledged + 1) + ".." +
                                 std::to_string(acknowledged + 1) + " failed (disk full): "));
    auto reason = w.exit_reason();
    REQUIRE(reason.has_value());
    CHECK(reason->code() == weft::exit_reason::kind::error);
    CHECK(std::string(reason->text()) == error_text);
  }
  // The journal cut the failed write back: the acknowledged notes recover.
  auto j = open_file_journal(dir / "journal");
  weft::runtime_options ro;
  ro.workers = 2;
  weft::runtime rt(ro);
  weft::scoped_actor self(rt);
  watched w(self, persistent<notes>(notes_options(j.get())));
  auto count = self.ask(w.ref(), get_state{}, 20s);
  REQUIRE(count.has_value());
  CHECK(*count == acknowledged);
}
