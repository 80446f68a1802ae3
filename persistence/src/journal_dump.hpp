#pragma once

// What weft-journal-dump prints, apart from finding and opening files
// (journal_dump_main.cpp), so the fuzz target (fuzz/journal_dump_fuzz.cpp)
// runs exactly this code.
//
// The dump is for people inspecting a journal that may be damaged: every
// record the scanner accepts is printed, whatever its payload holds, and
// every piece of damage is reported with its offset, after which the dump
// goes on at the next valid record if there is one. Nothing here trusts a
// payload: it is shown as CBOR or JSON only when it is a well-formed,
// shallow object or array, else as hex with an ASCII column.

#include "record_format.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace weft::persistence::detail {

struct dump_options {
  std::string only_id;  // empty: records of every persistence id
  bool full = false;    // whole payloads instead of the first bytes/characters
};

// What a dump found, for the exit status.
struct dump_result {
  std::uint64_t records = 0;     // records printed
  std::uint64_t damaged = 0;     // places where damage was reported
  std::uint64_t unreadable = 0;  // segments or records that could not be read or shown
};

// Receives the output, a line or several at a time.
using dump_sink = std::function<void(std::string_view)>;

// Shown payload bytes (hex) and characters (CBOR/JSON) unless `full`.
inline constexpr std::size_t dump_hex_limit = 256;
inline constexpr std::size_t dump_text_limit = 1024;
// Deeper CBOR/JSON is shown as hex: the parser and printer recurse.
inline constexpr std::size_t dump_max_nesting = 64;

// A segment's header line, or its damage (the records are dumped anyway).
void dump_segment_header(std::string_view segment_name, std::uint64_t file_size, std::span<const std::byte> header,
                         const dump_sink& out, dump_result& result);

// Prints every record from `start` to the end of the segment, reporting
// damage (and resuming at the next valid record after it). `read` may
// throw (an I/O error): the rest of the segment is then reported
// unreadable. Never throws but std::bad_alloc from the sink's strings.
void dump_records(std::string_view segment_name, const record_scanner::read_function& read, std::uint64_t file_size,
                  std::uint64_t start, const dump_options& options, const dump_sink& out, dump_result& result);

// The payload as the dump shows it, starting with its kind: "empty",
// "cbor {...}", "json {...}" or "hex" followed by indented lines.
std::string render_payload(std::span<const std::byte> payload, bool full);

// Whether data is exactly one well-formed CBOR data item (RFC 8949) that
// is a map or an array nested at most max_depth deep. Iterative.
bool cbor_container(std::span<const std::byte> data, std::size_t max_depth);

// Text with every byte outside printable ASCII (and the backslash) as \xNN.
std::string printable(std::string_view text);

}  // namespace weft::persistence::detail
