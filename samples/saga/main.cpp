// weft-saga: an order-booking saga coordinator that survives kill -9 at any
// point (docs/guide/sagas.md).
//
//   weft-saga run --data DIR --orders N [--fail-rate P] [--crash-after-ms T]
//                 [--serve-shell [--allow-mutations]] [--workers N]
//   weft-saga status --data DIR
//
// Each order is a saga of three steps on three participants, each a
// persistent actor with a ledger keyed by idempotency key (src/ledger.hpp):
//
//   reserve (inventory)  --compensation-->  release
//   charge  (payment)    --compensation-->  refund       the pivot: after a
//                                                        charge, only forward
//   deliver (delivery)   --compensation-->  cancel
//
// --fail-rate P makes each call fail with probability P in one of the ways
// real participants fail: the payment is declined (final: the saga
// compensates), the call times out before reaching the participant, or the
// participant applies it and the reply is lost (both: unknown outcome,
// retried with the same key, deduplicated by the ledger).

#include "src/ledger.hpp"

#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/persistence/saga.hpp>
#include <weft/runtime/weft.hpp>
#include <weft/shell/endpoint.hpp>

#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace wp = weft::persistence;
using namespace saga_sample;
using namespace std::chrono_literals;

constexpr const char* usage = R"(usage: weft-saga run --data DIR --orders N [options]
       weft-saga status --data DIR

run: resumes every saga left unfinished in DIR, then books N new orders,
each a saga (reserve inventory, charge payment, schedule delivery), and
exits 0 once every saga is completed, compensated or stuck.
  --fail-rate P        each participant call fails with probability P
                       (declined, timed out, or reply lost; default 0)
  --crash-after-ms T   kill -9 itself after T ms (crash testing)
  --workers N          scheduler threads (default: one per core)
  --compensation-attempts N  attempts of a compensation before its saga is
                       stuck (default 30)
  --serve-shell        serve the debug shell endpoint (weft-shell attach);
                       if sagas are stuck once the rest settle, keep serving
                       until they are resumed and settle, or Ctrl-C
  --allow-mutations    let the debug shell kill, send and restart (resume a
                       stuck saga: send saga/<id> resume)
  --no-fsync           do not sync the journal (measurements only)

status: one line per saga state with its count, then the ledger verdict:
"ledger: exact" when every participant's ledger matches what the sagas
did, else "ledger: MISMATCH" and the keys. Exit 0 only when exact.
)";

struct options {
  std::string command;
  std::filesystem::path data;
  std::uint64_t orders = 0;
  double fail_rate = 0;
  std::optional<std::uint64_t> crash_after_ms;
  unsigned workers = 0;
  bool serve_shell = false;
  bool allow_mutations = false;
  bool no_fsync = false;
  std::uint32_t compensation_attempts = 30;
};

[[noreturn]] void bad_usage(const std::string& why) {
  fmt::print(stderr, "weft-saga: {}\n{}", why, usage);
  std::exit(2);
}

template <class T>
T number(std::string_view text, std::string_view option) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    bad_usage(fmt::format("{} needs a number, not '{}'", option, text));
  }
  return value;
}

options parse(int argc, char** argv) {
  options o;
  if (argc < 2) bad_usage("no command");
  o.command = argv[1];
  if (o.command == "--help" || o.command == "-h") {
    fmt::print("{}", usage);
    std::exit(0);
  }
  if (o.command != "run" && o.command != "status") bad_usage("unknown command '" + o.command + "'");
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) bad_usage(fmt::format("{} needs a value", arg));
      return argv[++i];
    };
    if (arg == "--data") {
      o.data = std::string(value());
    } else if (arg == "--orders") {
      o.orders = number<std::uint64_t>(value(), arg);
    } else if (arg == "--fail-rate") {
      std::string text(value());
      try {
        std::size_t used = 0;
        o.fail_rate = std::stod(text, &used);
        if (used != text.size() || !(o.fail_rate >= 0 && o.fail_rate <= 1)) throw std::invalid_argument(text);
      } catch (const std::exception&) {
        bad_usage("--fail-rate needs a probability between 0 and 1, not '" + text + "'");
      }
    } else if (arg == "--crash-after-ms") {
      o.crash_after_ms = number<std::uint64_t>(value(), arg);
    } else if (arg == "--workers") {
      o.workers = number<unsigned>(value(), arg);
    } else if (arg == "--serve-shell") {
      o.serve_shell = true;
    } else if (arg == "--allow-mutations") {
      o.allow_mutations = true;
    } else if (arg == "--compensation-attempts") {
      o.compensation_attempts = number<std::uint32_t>(value(), arg);
      if (o.compensation_attempts == 0) bad_usage("--compensation-attempts must be at least 1");
    } else if (arg == "--no-fsync") {
      o.no_fsync = true;
    } else if (arg == "--help" || arg == "-h") {
      fmt::print("{}", usage);
      std::exit(0);
    } else {
      bad_usage(fmt::format("unknown option '{}'", arg));
    }
  }
  if (o.data.empty()) bad_usage("--data DIR is required");
  return o;
}

std::unique_ptr<wp::journal> open_journal(const options& o) {
  std::filesystem::create_directories(o.data);
  return wp::open_file_journal(o.data / "journal",
                               {.truncate_corrupt_tail = true,
                                .unsafe_no_sync = o.no_fsync,
                                .on_warning = [](std::string_view w) { fmt::print(stderr, "weft-saga: journal: {}\n", w); }});
}

// -- the participants and the saga ----------------------------------------------

using participant_ref = weft::ref<wp::persistent_protocol<participant_protocol, ledger_state>>;

struct participants {
  participant_ref inventory;
  participant_ref payment;
  participant_ref delivery;
};

// How a call to a participant fails, with probability `rate` (thread-safe:
// one generator per thread).
class fault_injector {
 public:
  explicit fault_injector(double rate) : rate_(rate) {}
  bool roll() const {
    if (rate_ <= 0) return false;
    thread_local std::mt19937_64 gen{std::random_device{}()};
    return std::uniform_real_distribution<double>(0, 1)(gen) < rate_;
  }

 private:
  double rate_;
};

// One participant call: maybe lost on the way there, maybe its reply lost
// on the way back (the participant applied it: only the ledger knows).
wp::step_result call(weft::context& self, const participant_ref& to, auto message, const wp::step_call& c,
                     const fault_injector& faults) {
  if (faults.roll()) return weft::error(weft::ask_errc::timeout, "injected: the request was lost");
  auto r = self.ask(to, std::move(message), c.timeout);
  if (r && faults.roll()) return weft::error(weft::ask_errc::timeout, "injected: the reply was lost");
  return r;
}

wp::saga_definition<order> booking(const participants& p, const fault_injector& faults,
                                   std::uint32_t compensation_attempts) {
  const wp::saga_retry retry{.initial_interval = 20ms,
                             .backoff_coefficient = 2.0,
                             .maximum_interval = 1s,
                             .maximum_attempts = 6,
                             .non_retryable = {weft::error(wp::command_errc::rejected)}};
  const wp::saga_retry undo_retry{
      .initial_interval = 20ms, .backoff_coefficient = 2.0, .maximum_interval = 2s, .maximum_attempts = compensation_attempts};
  auto step = [&](std::string name, participant_ref to, auto amount, bool pivot, bool may_decline) {
    return wp::saga_step<order>{
        .name = std::move(name),
        .action = [to, amount, may_decline, &faults](weft::context& self, const order& o, const wp::step_call& c) {
          // A declined payment is the business saying no: final.
          const bool decline = may_decline && faults.roll();
          return call(self, to, apply_op{std::string(c.idempotency_key), amount(o), decline}, c, faults);
        },
        .compensation = [to, &faults](weft::context& self, const order&, const wp::step_call& c) {
          return call(self, to, reverse_op{std::string(c.idempotency_key)}, c, faults);
        },
        .retry = retry,
        .compensation_retry = undo_retry,
        .timeout = 5s,
        .pivot = pivot};
  };
  wp::saga_definition<order> def("order");
  def.step(step("reserve", p.inventory, [](const order& o) { return o.quantity; }, false, false));
  def.step(step("charge", p.payment, [](const order& o) { return o.cents; }, true, true));
  def.step(step("deliver", p.delivery, [](const order&) { return std::int64_t{1}; }, false, false));
  return def;
}

participant_ref spawn_participant(weft::runtime& rt, wp::journal& j, const std::string& id) {
  return rt.spawn(wp::persistent<participant>({.persistence_id = id, .journal = &j, .event_manifest = ledger_manifest}),
                  {.name = id, .label = "participant " + id});
}

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_stop_signal(int) { stop_requested = 1; }

int run(const options& o) {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  if (o.crash_after_ms) {
    std::thread([ms = *o.crash_after_ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      ::kill(::getpid(), SIGKILL);
    }).detach();
  }
  std::unique_ptr<wp::journal> journal;
  try {
    journal = open_journal(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "weft-saga: cannot open the journal in {}: {}\n", o.data.string(), e.what());
    return 1;
  }
  const fault_injector faults(o.fail_rate);
  weft::runtime rt({.workers = o.workers});
  std::unique_ptr<weft::shell::endpoint> shell;
  if (o.serve_shell) {
    try {
      shell = std::make_unique<weft::shell::endpoint>(
          rt, weft::shell::endpoint_options{.allow_mutations = o.allow_mutations, .program = "weft-saga"});
    } catch (const std::exception& e) {
      fmt::print(stderr, "weft-saga: no debug shell endpoint: {}\n", e.what());
    }
  }
  participants p{spawn_participant(rt, *journal, "inventory"), spawn_participant(rt, *journal, "payment"),
                 spawn_participant(rt, *journal, "delivery")};
  const auto def = booking(p, faults, o.compensation_attempts);
  auto host = rt.spawn(wp::saga_host(def, {.journal = journal.get(), .max_running = 2000}),
                       {.mailbox_capacity = 1 << 16, .name = "sagas", .label = "saga host (orders)"});
  int status = 0;
  {
    weft::scoped_actor self(rt);
    auto before = self.ask(host, wp::count_sagas{}, 60s);
    if (!before) {
      fmt::print(stderr, "weft-saga: the saga host did not start: {}\n", before.error());
      return 1;
    }
    const std::uint64_t resumed = before->running + before->waiting + before->stuck;
    fmt::print("resuming {} unfinished sagas ({} stuck)\n", resumed, before->stuck);
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t n = before->completed + before->compensated + resumed;
    for (std::uint64_t i = 0; i < o.orders; ++i) {
      const order ord{fmt::format("customer-{}", (n + i) % 97), fmt::format("sku-{}", (n + i) % 13),
                      static_cast<std::int64_t>(1 + (n + i) % 3), static_cast<std::int64_t>(500 + (n + i) % 5000)};
      // A plain send: the host answers nobody, and mailbox order puts every
      // start before the await below.
      self.send(host, def.start({}, ord));
    }
    if (shell) fmt::print("serving: {} new orders started\n", o.orders);
    std::fflush(stdout);
    bool lingering = false;
    for (;;) {
      auto done = self.ask(host, wp::await_sagas{}, 1s);
      if (done && shell && done->stuck > 0 && stop_requested == 0) {
        // Someone may attach and resume the stuck ones: wait for that.
        if (!lingering) fmt::print("{} stuck sagas: serving the debug shell until they settle (Ctrl-C ends)\n", done->stuck);
        std::fflush(stdout);
        lingering = true;
        std::this_thread::sleep_for(200ms);
        continue;
      }
      if (!done && done.error() == weft::ask_errc::timeout && stop_requested != 0) {
        fmt::print("interrupted: sagas left in flight resume at the next run\n");
        break;
      }
      if (done) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        fmt::print("completed {}\ncompensated {}\nstuck {}\nin flight {}\n", done->completed, done->compensated,
                   done->stuck, done->running + done->waiting);
        fmt::print("{} new orders in {:.2f} s ({:.0f} sagas/s)\n", o.orders, secs,
                   secs > 0 ? static_cast<double>(o.orders) / secs : 0.0);
        break;
      }
      if (done.error() != weft::ask_errc::timeout) {
        fmt::print(stderr, "weft-saga: {}\n", done.error());
        status = 1;
        break;
      }
    }
  }
  shell.reset();
  rt.shutdown();
  journal->close();
  return status;
}

// -- status -----------------------------------------------------------------------

int status(const options& o) {
  std::unique_ptr<wp::journal> journal;
  try {
    if (!std::filesystem::exists(o.data / "journal")) {
      fmt::print(stderr, "weft-saga: no journal in {}\n", o.data.string());
      return 1;
    }
    journal = open_journal(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "weft-saga: cannot open the journal in {}: {}\n", o.data.string(), e.what());
    return 1;
  }
  const auto sagas = wp::read_sagas(*journal, "order");
  std::map<wp::saga_state, std::uint64_t> counts;
  std::uint64_t in_flight = 0;
  for (const auto& s : sagas) {
    if (s.status.state == wp::saga_state::running || s.status.state == wp::saga_state::compensating) {
      ++in_flight;
    } else {
      ++counts[s.status.state];
    }
  }
  fmt::print("completed {}\ncompensated {}\nstuck {}\nin flight {}\n", counts[wp::saga_state::completed],
             counts[wp::saga_state::compensated], counts[wp::saga_state::stuck], in_flight);

  // The verdict: each participant's ledger against what each saga did.
  std::vector<std::string> wrong;
  const std::map<std::string, ledger_view> ledgers{{"reserve", read_ledger(*journal, "inventory")},
                                                   {"charge", read_ledger(*journal, "payment")},
                                                   {"deliver", read_ledger(*journal, "delivery")}};
  std::map<std::string, bool> known;
  for (const auto& [step, ledger] : ledgers) {
    for (const auto& [key, times] : ledger.applications) {
      if (times > 1) wrong.push_back(fmt::format("{} applied {} times", key, times));
    }
  }
  for (const auto& s : sagas) {
    for (const auto& [step, ledger] : ledgers) {
      const std::string key = s.id + "/" + step;
      known[key] = true;
      auto it = ledger.final_entry.find(key);
      const bool in_effect = it != ledger.final_entry.end() && it->second == entry::applied;
      if (s.status.state == wp::saga_state::completed && !in_effect) {
        wrong.push_back(fmt::format("{}: the saga completed, the {} is not in effect", key, step));
      } else if (s.status.state == wp::saga_state::compensated && in_effect) {
        wrong.push_back(fmt::format("{}: the saga was compensated, the {} is still in effect", key, step));
      }
    }
  }
  for (const auto& [step, ledger] : ledgers) {
    for (const auto& [key, e] : ledger.final_entry) {
      if (!known.contains(key)) wrong.push_back(fmt::format("{}: no saga has this key", key));
    }
  }
  journal->close();
  if (wrong.empty()) {
    fmt::print("ledger: exact\n");
    return 0;
  }
  fmt::print("ledger: MISMATCH\n");
  for (const auto& w : wrong) fmt::print("  {}\n", w);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  try {
    return o.command == "run" ? run(o) : status(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "weft-saga: {}\n", e.what());
    return 1;
  }
}
