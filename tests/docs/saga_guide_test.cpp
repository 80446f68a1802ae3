// docs/guide/sagas.md's example, compiled and run (check_snippets.py keeps
// the guide's copy equal to the regions below).
#include <doctest/doctest.h>

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/saga.hpp>
#include <weft/runtime/weft.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>

namespace wp = weft::persistence;
using namespace std::chrono_literals;

namespace {

// A participant: applies each key once, and remembers undone keys.
struct apply {
  std::string key;
  std::int64_t amount = 0;
};
struct undo {
  std::string key;
};
using participant_protocol = weft::protocol<void(apply), void(undo)>;

weft::ref<participant_protocol> spawn_participant(weft::runtime& rt, std::map<std::string, int>& ledger) {
  return rt.spawn(weft::stateful<participant_protocol>(
      0, [&ledger](int&, const apply& a) { ledger.try_emplace(a.key, 1); },
      [&ledger](int&, const undo& u) { ledger[u.key] = 0; }));
}

}  // namespace

// [order]
struct order {
  std::string item;
  std::int64_t cents = 0;
  WEFT_FIELDS(item, cents)
};
// [/order]

TEST_CASE("docs: the sagas guide's example runs") {
  const auto dir = std::filesystem::temp_directory_path() / ("weft-saga-guide-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::map<std::string, int> stock, cards, vans;  // each written by its participant only
  {
    const auto journal = wp::open_file_journal(dir / "journal");
    weft::runtime rt;
    weft::scoped_actor self(rt);
    auto inventory = spawn_participant(rt, stock);
    auto payment = spawn_participant(rt, cards);
    auto delivery = spawn_participant(rt, vans);

    // [definition]
    wp::saga_definition<order> booking("order");
    const wp::saga_retry retry{.initial_interval = 20ms, .maximum_interval = 1s, .maximum_attempts = 6};
    for (auto [name, to, pivot] : {std::tuple{"reserve", inventory, false}, std::tuple{"charge", payment, true},
                                   std::tuple{"deliver", delivery, false}}) {
      booking.step({.name = name,
                    .action = [to](weft::context& self, const order& o, const wp::step_call& c) {
                      return self.ask(to, apply{std::string(c.idempotency_key), o.cents}, c.timeout);
                    },
                    .compensation = [to](weft::context& self, const order&, const wp::step_call& c) {
                      return self.ask(to, undo{std::string(c.idempotency_key)}, c.timeout);
                    },
                    .retry = retry,
                    .timeout = 5s,
                    .pivot = pivot});  // after the charge: forward only
    }
    // [/definition]

    // [run]
    auto host = rt.spawn(wp::saga_host(booking, {.journal = journal.get()}), {.mailbox_capacity = 1 << 16});
    weft::expected<std::string> id = self.ask(host, booking.start("order-17", order{"sku-1", 1299}));
    weft::expected<wp::saga_counts> counts = self.ask(host, wp::await_sagas{}, 60s);  // once none is running
    // [/run]
    REQUIRE(id);
    CHECK(*id == "order-17");
    REQUIRE(counts);
    CHECK(counts->completed == 1);
    rt.shutdown();
  }
  CHECK(stock.at("order-17/reserve") == 1);
  CHECK(cards.at("order-17/charge") == 1);
  CHECK(vans.at("order-17/deliver") == 1);
  std::filesystem::remove_all(dir);
}
