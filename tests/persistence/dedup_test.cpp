// Idempotent consumers: dedup_window alone, then a persistent actor that
// must apply each of 1,000,000 commands (5% duplicates) exactly once, also
// when it is killed in the middle and the sender redelivers.

#include <weft/persistence/dedup_window.hpp>
#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/persistence/snapshot_store.hpp>

#include "counter_support.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::test;
using namespace std::chrono_literals;

TEST_CASE("a dedup window of capacity 4 forgets the oldest id first") {
  dedup_window w(4);
  for (std::uint64_t id : {10, 11, 12, 13})
    CHECK(w.insert(id));
  CHECK_FALSE(w.insert(11));  // known: nothing changes
  CHECK(w.insert(14));        // evicts 10
  CHECK_FALSE(w.contains(10));
  CHECK(w.contains(11));
  CHECK(w.ids_in_order() == std::vector<std::uint64_t>{11, 12, 13, 14});
  CHECK(w.size() == 4);
}

TEST_CASE("a dedup window survives an encode/decode round trip with its eviction order") {
  dedup_window w(3);
  for (std::uint64_t id : {1, 2, 3, 4})
    w.insert(id);
  dedup_window copy = decode<dedup_window>(encode(w));
  CHECK(copy.capacity() == 3);
  CHECK(copy.ids_in_order() == std::vector<std::uint64_t>{2, 3, 4});
  copy.insert(5);
  CHECK_FALSE(copy.contains(2));
  CHECK_THROWS_AS(decode<dedup_window>(bytes{std::byte{2}, std::byte{3}}), storage_error);
}

namespace {

struct deliver {
  std::uint64_t message_id = 0;
  std::int64_t index = 0;  // position in the sender's stream
};

struct delivered {
  std::uint64_t message_id = 0;
  std::int64_t index = 0;
};

struct consumer_state {
  dedup_window seen;
  std::uint64_t effects = 0;
  std::int64_t last_index = -1;  // of the newest command applied
};

}  // namespace

template <>
struct weft::persistence::codec<delivered> {
  static void encode(const delivered& e, byte_writer& out) {
    out.write(e.message_id);
    out.write(e.index);
  }
  static delivered decode(byte_reader& in) {
    delivered e;
    e.message_id = in.read<std::uint64_t>();
    e.index = in.read<std::int64_t>();
    return e;
  }
};

template <>
struct weft::persistence::codec<consumer_state> {
  static void encode(const consumer_state& s, byte_writer& out) {
    out.write(s.seen);
    out.write(s.effects);
    out.write(s.last_index);
  }
  static consumer_state decode(byte_reader& in) {
    consumer_state s;
    s.seen = in.read<dedup_window>();
    s.effects = in.read<std::uint64_t>();
    s.last_index = in.read<std::int64_t>();
    return s;
  }
};

namespace {

struct consumer : event_sourced<weft::protocol<void(deliver)>, consumer_state, delivered> {
  effect<void> on_command(const consumer_state& s, const deliver& c) const {
    if (s.seen.contains(c.message_id)) return none();  // a duplicate: acknowledge, change nothing
    return persist(delivered{c.message_id, c.index});
  }
  void on_event(consumer_state& s, const delivered& e) const {
    s.seen.insert(e.message_id);
    ++s.effects;
    s.last_index = e.index;
  }
};
using consumer_ref = weft::ref<persistent_protocol<weft::protocol<void(deliver)>, consumer_state>>;

// 1,000,000 message ids: every 20th repeats one of the ~500 before it, so
// 50,000 are duplicates and 950,000 distinct.
std::vector<std::uint64_t> message_stream() {
  std::vector<std::uint64_t> ids(1'000'000);
  std::uint64_t fresh = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i % 20 == 19) {
      ids[i] = ids[i - 1 - (i * 7919) % std::min<std::size_t>(i, 500)];
    } else {
      ids[i] = ++fresh * 0x9E3779B97F4A7C15ull;  // odd multiplier: distinct
    }
  }
  return ids;
}

}  // namespace

TEST_CASE("1,000,000 commands with 5% duplicates give exactly 950,000 effects, also across a crash in the middle") {
  const std::vector<std::uint64_t> ids = message_stream();
  temp_dir dir;
  auto j = open_file_journal(dir / "journal");
  auto snaps = open_file_snapshot_store(dir / "snapshots");
  persistent_options<consumer_state, delivered> o;
  o.persistence_id = "consumer";
  o.journal = j.get();
  o.snapshots = snaps.get();
  o.snapshot_every = 200'000;  // the window travels through snapshots too
  weft::runtime_options ro;
  ro.workers = 2;
  weft::runtime rt(ro);
  weft::scoped_actor self(rt);
  // Windows of 512 sends then one ask keep the mailbox (1024) from filling:
  // a sender blocked on a full mailbox sometimes hangs in the runtime (see
  // docs/guide/persistence.md, "Known issues").
  auto send_range = [&](const consumer_ref& p, std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      REQUIRE(self.send(p, deliver{ids[i], static_cast<std::int64_t>(i)}) == weft::send_status::ok);
      if (i % 512 == 511 && i + 1 < to) REQUIRE(self.ask(p, get_persistence_info{}, 60s).has_value());
    }
  };

  std::int64_t resume_from = 0;
  {
    watched w(self, persistent<consumer>(o));
    send_range(w.ref(), 0, 600'000);
    // Crash while commands are still queued: they are lost with the actor.
    self.exit(w.pid(), weft::exit_reason::kill());
    REQUIRE(w.exit_reason().has_value());
  }
  {
    watched w(self, persistent<consumer>(o));
    auto s = self.ask(w.ref(), get_state{}, 60s);
    REQUIRE(s.has_value());
    MESSAGE("killed after applying commands up to index ", s->last_index, " (", s->effects, " effects)");
    // At-least-once delivery: the sender redelivers from before the last
    // command it knows was applied; the window catches the repeats.
    resume_from = std::max<std::int64_t>(0, s->last_index - 50'000);
    send_range(w.ref(), static_cast<std::size_t>(resume_from), ids.size());
    s = self.ask(w.ref(), get_state{}, 60s);
    REQUIRE(s.has_value());
    CHECK(s->effects == 950'000);
    CHECK(s->last_index == 999'998);  // 999,999 is a duplicate
    CHECK(j->highest_sequence_nr("consumer") == 950'000);
  }
}
