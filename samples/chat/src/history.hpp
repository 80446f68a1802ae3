#pragma once
// A room's durable history: an event-sourced persistent actor (one per
// room, a child of the room, persistence id "room:" + folded name) whose
// events are the room's history records, the topic changes among them.
//
// The room sends a batch of records and waits for the reply, which comes
// once they are on disk: the last sequence number, from which the room
// numbers the batch. Records queued at a room while a batch is written
// go together in the next one, and the journal writes the batches of all
// rooms in one group (one fdatasync).
//
// Its state is what a restarted room needs at once: the topic and the
// last sequence number. The room reads the newest records itself
// (config::history_in_memory of them) and older ones on demand, straight
// from the journal (room.cpp): durable events are readable by anyone.

#include "event.hpp"

#include <weft/persistence/codec.hpp>
#include <weft/persistence/persistent_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace chat {

// One stored history event. kind: event_kind (privmsg, notice, topic).
struct record {
  std::uint8_t kind = 0;
  std::string nick;
  std::string prefix;
  std::string text;
  std::int64_t time_ms = 0;
  WEFT_FIELDS(kind, nick, prefix, text, time_ms)
};

struct append_records {
  std::vector<record> records;
};

struct history_state {
  std::uint64_t last_seq = 0;  // sequence number of the newest record
  std::string topic;
  std::string topic_by;
  std::int64_t topic_time_ms = 0;
};

using history_protocol = weft::protocol<std::uint64_t(append_records)>;

struct history : weft::persistence::event_sourced<history_protocol, history_state, record> {
  effect<std::uint64_t> on_command(const history_state&, const append_records& batch) const {
    return persist(batch.records).then_reply([](const history_state& s) { return s.last_seq; });
  }
  void on_event(history_state& s, const record& r) const {
    ++s.last_seq;
    if (r.kind == static_cast<std::uint8_t>(event_kind::topic)) {
      s.topic = r.text;
      s.topic_by = r.nick;
      s.topic_time_ms = r.time_ms;
    }
  }
};

inline constexpr const char* history_manifest = "chat.record";

}  // namespace chat
