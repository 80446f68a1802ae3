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

using notes = persistent_behavior<std::int64_t, std::string, std::string, std::int64_t>;

notes notes_behavior() {
  notes b;
  b.on_command = [](const std::int64_t&, const std::string& text) {
    return notes::persist(text).then_reply([](const std::int64_t& count) { return count; });
  };
  b.on_event = [](std::int64_t& count, const std::string&) { ++count; };
  return b;
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
    persistent_options<std::int64_t, std::string> o;
    o.persistence_id = "notes";
    o.journal = j.get();
    watched w(rt, persistent_actor(notes_behavior(), o));
    REQUIRE(rt.ask<std::int64_t>(w.pid(), get_state{}, 20s).has_value());  // recovered before the limit
    const std::string note(4096, 'n');
    {
      file_size_limit limit(64 * 1024);
      for (int i = 0; i < 100; ++i) {
        auto r = rt.ask<notes::reply>(w.pid(), note, 20s);
        REQUIRE(r.has_value());
        if (!r->ok()) {
          CHECK(r->error().code == command_error::kind::write_failed);
          error_text = r->error().message;
          break;
        }
        CHECK(r->value() == acknowledged + 1);
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
  persistent_options<std::int64_t, std::string> o;
  o.persistence_id = "notes";
  o.journal = j.get();
  watched w(rt, persistent_actor(notes_behavior(), o));
  auto count = rt.ask<std::int64_t>(w.pid(), get_state{}, 20s);
  REQUIRE(count.has_value());
  CHECK(*count == acknowledged);
}
