#include "journal_dump.hpp"

#include "group_commit.hpp"  // current_exception_text

#include <weft/persistence/json_codec.hpp>  // detail::cbor_well_formed

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>

namespace weft::persistence::detail {
namespace {

unsigned byte_at(std::span<const std::byte> data, std::size_t i) {
  return std::to_integer<unsigned>(data[i]);
}

// Whether JSON text nests at most max_depth deep (brackets outside strings).
bool shallow_json(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// The tree as one line of ASCII (non-ASCII escaped, invalid UTF-8
// replaced), cut at dump_text_limit unless full.
std::string render_tree(std::string_view kind, const nlohmann::json& tree, bool full) {
  std::string text = tree.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  std::string shown = std::string(kind) + " ";
  if (full || text.size() <= dump_text_limit) return shown + text;
  return shown + text.substr(0, dump_text_limit) +
         fmt::format("... ({} more characters; --full shows them)", text.size() - dump_text_limit);
}

// CBOR object or array, if the payload is one (see cbor_container).
bool try_cbor(std::span<const std::byte> payload, bool full, std::string& shown) {
  if (!cbor_container(payload, dump_max_nesting)) return false;
  // Well-formed is not yet valid for nlohmann (map keys must be strings,
  // some simple values are refused): it still decides, and even without
  // exceptions it throws for some inputs, so any exception means "not
  // shown as CBOR".
  try {
    auto raw = reinterpret_cast<const std::uint8_t*>(payload.data());
    nlohmann::json tree =
        nlohmann::json::from_cbor(raw, raw + payload.size(), true, false, nlohmann::json::cbor_tag_handler_t::ignore);
    if (tree.is_discarded() || !(tree.is_object() || tree.is_array())) return false;
    shown = render_tree("cbor", tree, full);
    return true;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (...) {
    return false;
  }
}

// JSON text holding an object or array, if the payload is one.
bool try_json(std::span<const std::byte> payload, bool full, std::string& shown) {
  std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || (text[first] != '{' && text[first] != '[')) return false;
  if (!shallow_json(text, dump_max_nesting)) return false;
  try {
    nlohmann::json tree = nlohmann::json::parse(text.begin(), text.end(), nullptr, false, false);
    if (tree.is_discarded() || !(tree.is_object() || tree.is_array())) return false;
    shown = render_tree("json", tree, full);
    return true;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (...) {
    return false;
  }
}

std::string render_hex(std::span<const std::byte> payload, bool full) {
  constexpr std::size_t per_line = 16;
  const std::size_t shown = full ? payload.size() : std::min(payload.size(), dump_hex_limit);
  std::string text = "hex";
  for (std::size_t line = 0; line < shown; line += per_line) {
    const std::size_t count = std::min(per_line, shown - line);
    text += fmt::format("\n    {:04x}  ", line);
    for (std::size_t i = 0; i < per_line; ++i) {
      if (i == 8) text += ' ';
      text += i < count ? fmt::format("{:02x} ", byte_at(payload, line + i)) : std::string("   ");
    }
    text += " |";
    for (std::size_t i = 0; i < count; ++i) {
      const unsigned c = byte_at(payload, line + i);
      text += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.';
    }
    text += '|';
  }
  if (shown < payload.size()) {
    text += fmt::format("\n    ... {} more bytes (--full shows them)", payload.size() - shown);
  }
  return text;
}

std::string describe_record(const record_scanner& scanner, const dump_options& options) {
  const decoded_record& r = scanner.record();
  if (r.kind == record_kind::deletion) {
    return fmt::format("offset {} pid={} DELETE up to seq={}\n", scanner.offset(), printable(r.persistence_id),
                       r.sequence_nr);
  }
  return fmt::format("offset {} seq={} pid={} manifest={} schema={} size={} {}\n", scanner.offset(), r.sequence_nr,
                     printable(r.persistence_id), printable(r.manifest), r.schema_version, r.payload.size(),
                     render_payload(r.payload, options.full));
}

std::string describe_damage(std::string_view segment_name, record_scanner& scanner, decode_outcome outcome,
                            std::uint64_t file_size, bool& resume, std::uint64_t& resume_at) {
  const std::uint64_t bad = scanner.offset();
  std::string where;
  if (outcome == decode_outcome::stray_bytes) {
    where = fmt::format("{} offset {}: DAMAGED: {} (the last record ends at offset {}", segment_name,
                        scanner.damage_offset(), describe(outcome), bad);
  } else {
    const std::string guessed = guess_persistence_id(scanner.bytes_at_offset(record_header_size + 80));
    where = fmt::format("{} offset {}: DAMAGED: {} ({}", segment_name, bad, describe(outcome),
                        guessed.empty() ? std::string() : fmt::format("persistence id {}, unverified; ", guessed));
  }
  std::size_t found = 0;
  resume = valid_record_after(scanner.bytes_at_offset(static_cast<std::size_t>(file_size - bad)), &found);
  resume_at = bad + found;
  return where + fmt::format("{}{} bytes from offset {} to the end of the file; {})\n",
                             outcome == decode_outcome::stray_bytes ? "; " : "", file_size - bad, bad,
                             resume
                                 ? fmt::format("a valid record follows at offset {}: the dump goes on there", resume_at)
                                 : std::string("nothing valid follows: a torn tail"));
}

}  // namespace

std::string printable(std::string_view text) {
  std::string shown;
  shown.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      shown += c;
    } else {
      shown += fmt::format("\\x{:02x}", u);
    }
  }
  return shown;
}

bool cbor_container(std::span<const std::byte> data, std::size_t max_depth) {
  return detail::cbor_well_formed(data, max_depth, true);
}

std::string render_payload(std::span<const std::byte> payload, bool full) {
  if (payload.empty()) return "empty";
  std::string shown;
  if (try_cbor(payload, full, shown) || try_json(payload, full, shown)) return shown;
  return render_hex(payload, full);
}

void dump_segment_header(std::string_view segment_name, std::uint64_t file_size, std::span<const std::byte> header,
                         const dump_sink& out, dump_result& result) {
  out(fmt::format("# segment {} ({} bytes)\n", segment_name, file_size));
  if (header.size() < segment_header_size) {
    ++result.damaged;
    out(fmt::format("{} offset 0: DAMAGED: the file is shorter than a segment header ({} bytes)\n", segment_name,
                    segment_header_size));
  } else if (!segment_header_valid(header)) {
    ++result.damaged;
    out(
        fmt::format("{} offset 0: DAMAGED: invalid segment header (not a weft journal segment, or its start is "
                    "damaged); the records after it are shown anyway\n",
                    segment_name));
  }
}

void dump_records(std::string_view segment_name, const record_scanner::read_function& read, std::uint64_t file_size,
                  std::uint64_t start, const dump_options& options, const dump_sink& out, dump_result& result) {
  std::uint64_t from = start;
  std::uint64_t reached = start;
  try {
    for (;;) {
      // One scanner per run of valid records: after damage the dump goes
      // on at the next record that verifies.
      record_scanner scanner(read, file_size, from);
      decode_outcome outcome;
      while ((outcome = scanner.next()) == decode_outcome::ok) {
        reached = scanner.offset();
        const decoded_record& r = scanner.record();
        if (!options.only_id.empty() && r.persistence_id != options.only_id) continue;
        std::string line;
        try {
          line = describe_record(scanner, options);
          ++result.records;
        } catch (...) {
          ++result.unreadable;
          line = fmt::format("offset {}: cannot show this record ({})\n", scanner.offset(), current_exception_text());
        }
        out(line);
      }
      reached = scanner.offset();
      if (scanner.at_end()) {
        out(fmt::format("# {}: the records end at offset {}{}\n", segment_name, scanner.offset(),
                        scanner.offset() < file_size ? "; the rest of the file is zero-filled" : ""));
        return;
      }
      ++result.damaged;
      bool resume = false;
      std::uint64_t resume_at = 0;
      out(describe_damage(segment_name, scanner, outcome, file_size, resume, resume_at));
      if (!resume) return;
      from = resume_at;
    }
  } catch (...) {
    ++result.unreadable;
    out(fmt::format("{}: reading failed after offset {} ({}); the rest of this segment is not shown\n", segment_name,
                    reached, current_exception_text()));
  }
}

}  // namespace weft::persistence::detail
