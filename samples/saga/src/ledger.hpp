#pragma once

// The saga sample's participants: inventory, payment and delivery, each a
// persistent actor whose state is a ledger keyed by idempotency key.
//
//   command          key unknown        key applied     key reversed / tombstoned
//   -------          -----------        -----------     -------------------------
//   apply{key, n}    applied (or, for   nothing (a      refused: a compensation
//                    a declined key,    duplicate)      came first, and a late
//                    refused)                           action must not undo it
//   reverse{key}     tombstoned         reversed        nothing (a duplicate)
//
// A tombstone is how a participant survives the race every saga has: an
// action that timed out may still arrive after its compensation ran.
//
// The events are also read offline by `weft-saga status` (read_ledger),
// which checks them against what the sagas say they did.

#include <weft/persistence/codec.hpp>
#include <weft/persistence/journal.hpp>
#include <weft/persistence/persistent_actor.hpp>
#include <weft/runtime/protocol.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <variant>

namespace saga_sample {

namespace wp = weft::persistence;

// The order a saga books.
struct order {
  std::string customer;
  std::string item;
  std::int64_t quantity = 1;
  std::int64_t cents = 0;
  WEFT_FIELDS(customer, item, quantity, cents)
};

// Commands (the action and its compensation).
struct apply_op {
  std::string key;
  std::int64_t amount = 0;
  bool decline = false;  // the business says no (payment declined): refused, nothing kept
};
struct reverse_op {
  std::string key;
};

// Events.
struct applied {
  std::string key;
  std::int64_t amount = 0;
  WEFT_FIELDS(key, amount)
};
struct reversed {
  std::string key;
  WEFT_FIELDS(key)
};
struct tombstoned {
  std::string key;
  WEFT_FIELDS(key)
};
using ledger_event = std::variant<applied, reversed, tombstoned>;

enum class entry : std::uint8_t { applied = 1, reversed, tombstoned };

struct ledger_state {
  std::map<std::string, entry> entries;
};

using participant_protocol = weft::protocol<void(apply_op), void(reverse_op)>;

struct participant : wp::event_sourced<participant_protocol, ledger_state, ledger_event> {
  // [commands]
  effect<void> on_command(const ledger_state& s, const apply_op& op) const {
    auto it = s.entries.find(op.key);
    if (it == s.entries.end()) {
      if (op.decline) return reject("declined");
      return persist(applied{op.key, op.amount});
    }
    if (it->second == entry::applied) return none();  // a repeat: already in effect
    return reject("compensated before it arrived");
  }
  effect<void> on_command(const ledger_state& s, const reverse_op& op) const {
    auto it = s.entries.find(op.key);
    if (it == s.entries.end()) return persist(tombstoned{op.key});
    if (it->second == entry::applied) return persist(reversed{op.key});
    return none();
  }
  // [/commands]
  void on_event(ledger_state& s, const applied& e) const { s.entries[e.key] = entry::applied; }
  void on_event(ledger_state& s, const reversed& e) const { s.entries[e.key] = entry::reversed; }
  void on_event(ledger_state& s, const tombstoned& e) const { s.entries[e.key] = entry::tombstoned; }
};

inline constexpr const char* ledger_manifest = "ledger";

// Offline: each key's final entry, and how many times it was applied.
struct ledger_view {
  std::map<std::string, entry> final_entry;
  std::map<std::string, int> applications;
};
inline ledger_view read_ledger(wp::journal& j, const std::string& persistence_id) {
  ledger_view v;
  j.read(persistence_id, 1, wp::max_sequence_nr, wp::max_sequence_nr, [&](const wp::event_view& ev) {
    ledger_event e = wp::decode<ledger_event>(ev.payload);
    if (auto* a = std::get_if<applied>(&e)) {
      v.final_entry[a->key] = entry::applied;
      ++v.applications[a->key];
    } else if (auto* r = std::get_if<reversed>(&e)) {
      v.final_entry[r->key] = entry::reversed;
    } else if (auto* t = std::get_if<tombstoned>(&e)) {
      v.final_entry[t->key] = entry::tombstoned;
    }
  });
  return v;
}

}  // namespace saga_sample
