// A persistent bank account: deposit, withdraw, balance; overdrafts are refused.
#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/runtime/weft.hpp>

#include <cstdint>
#include <variant>

namespace wp = weft::persistence;

struct deposit { std::int64_t amount; };
struct withdraw { std::int64_t amount; };
struct balance {};
using account_protocol = weft::protocol<std::int64_t(deposit), std::int64_t(withdraw), std::int64_t(balance)>;

struct deposited { std::int64_t amount; WEFT_FIELDS(amount) };
struct withdrawn { std::int64_t amount; WEFT_FIELDS(amount) };

struct account : wp::event_sourced<account_protocol, std::int64_t, std::variant<deposited, withdrawn>> {
  static std::int64_t total(const std::int64_t& balance) { return balance; }
  effect<std::int64_t> on_command(const std::int64_t&, const deposit& d) const {
    return persist(deposited{d.amount}).then_reply(total);
  }
  effect<std::int64_t> on_command(const std::int64_t& balance, const withdraw& w) const {
    if (w.amount > balance) return reject("insufficient funds");
    return persist(withdrawn{w.amount}).then_reply(total);
  }
  effect<std::int64_t> on_command(const std::int64_t& balance, const ::balance&) const { return reply(balance); }
  void on_event(std::int64_t& balance, const deposited& e) const { balance += e.amount; }
  void on_event(std::int64_t& balance, const withdrawn& e) const { balance -= e.amount; }
};

int main(int argc, char** argv) {
  auto journal = wp::open_file_journal(argc > 1 ? argv[1] : "bank-account-journal");
  weft::runtime rt;
  weft::scoped_actor self(rt);
  auto acct = rt.spawn(wp::persistent<account>({.persistence_id = "account-1", .journal = journal.get()}));
  auto before = self.ask(acct, balance{});
  self.send(acct, deposit{100});
  auto refused = self.ask(acct, withdraw{500});
  return before && !refused && refused.error() == wp::command_errc::rejected && self.ask(acct, balance{}) == *before + 100
             ? 0 : 1;
}
