// weft-journal-dump: every record is shown whatever its payload holds
// (CBOR and JSON objects as JSON, anything else as hex), damage is reported
// with its file and offset, and the exit status says which it was. The
// printing code is tested directly; the tool itself is run as a user runs
// it (WEFT_JOURNAL_DUMP is the binary's path).

#include <weft/persistence/codec.hpp>
#include <weft/persistence/file_journal.hpp>
#include <weft/persistence/json_codec.hpp>

#include "journal_dump.hpp"
#include "segment_end.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

using namespace weft::persistence;
using namespace weft::persistence::detail;
using weft::persistence::test::segment_end;
using weft::persistence::test::temp_dir;
using weft::persistence::test::text_event;

namespace {

struct order_placed {
  int id = 0;
  std::string item;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, id, item)

struct basket {
  std::vector<std::string> items;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(basket, items)

bytes raw(std::initializer_list<unsigned> values) {
  bytes out;
  for (unsigned v : values)
    out.push_back(static_cast<std::byte>(v));
  return out;
}

bytes repeated(unsigned value, std::size_t count) {
  return bytes(count, static_cast<std::byte>(value));
}

bytes text_bytes(std::string_view text) {
  auto view = as_bytes(text);
  return {view.begin(), view.end()};
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

// The issue's payload: an int64 of -69 and a uint32 of 1, fixed width.
bytes fixed_width_payload() {
  return encode(std::pair<std::int64_t, std::uint32_t>{-69, 1});
}

struct dump_run {
  int status = -1;
  std::string output;
};

dump_run run_dump(const std::string& arguments) {
  dump_run run;
  const std::string command = std::string(WEFT_JOURNAL_DUMP) + " " + arguments + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    run.output.append(buffer, got);
  const int status = ::pclose(pipe);
  REQUIRE(WIFEXITED(status));
  run.status = WEXITSTATUS(status);
  return run;
}

std::string quoted(const std::filesystem::path& path) {
  return "'" + path.string() + "'";
}

}  // namespace

TEST_CASE("a fixed-width binary payload is shown as hex with an ASCII column") {
  CHECK(fixed_width_payload() == raw({0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0}));
  CHECK(render_payload(fixed_width_payload(), false) ==
        "hex\n"
        "    0000  bb ff ff ff ff ff ff ff  01 00 00 00              |............|");
  CHECK(render_payload(text_bytes("payload-1 and more!"), false) ==
        "hex\n"
        "    0000  70 61 79 6c 6f 61 64 2d  31 20 61 6e 64 20 6d 6f  |payload-1 and mo|\n"
        "    0010  72 65 21                                          |re!|");
}

TEST_CASE("empty, CBOR and JSON payloads are shown as such") {
  CHECK(render_payload({}, false) == "empty");
  CHECK(render_payload(encode(order_placed{7, "tea\x01"}), false) == R"(cbor {"id":7,"item":"tea\u0001"})");
  CHECK(render_payload(text_bytes(R"( {"a": [1, 2.5, null]} )"), false) == R"(json {"a":[1,2.5,null]})");
  // A CBOR scalar or a JSON number is no object: hex.
  CHECK(render_payload(raw({0x18, 0x2a}), false).starts_with("hex\n"));
  CHECK(render_payload(text_bytes("42"), false).starts_with("hex\n"));
  // Invalid UTF-8 inside a CBOR text string is replaced, not thrown.
  CHECK(render_payload(raw({0x81, 0x62, 0xc3, 0x28}), false) == R"(cbor ["\ufffd("])");
}

TEST_CASE("payloads that only look like CBOR or JSON are shown as hex without throwing") {
  // A map claiming 2^64 - 255 entries: the payload that stopped the old dump.
  CHECK(render_payload(fixed_width_payload(), false).starts_with("hex\n"));
  CHECK(render_payload(raw({0x82, 0x01}), false).starts_with("hex\n"));        // truncated array
  CHECK(render_payload(raw({0x80, 0x00}), false).starts_with("hex\n"));        // trailing byte
  CHECK(render_payload(raw({0xa1, 0x01, 0x02}), false).starts_with("hex\n"));  // a key nlohmann refuses
  CHECK(render_payload(text_bytes("{\"a\": "), false).starts_with("hex\n"));   // cut JSON
  bytes deep_cbor = repeated(0x81, 100'000);
  deep_cbor.push_back(std::byte{0x01});
  CHECK(render_payload(deep_cbor, false).starts_with("hex\n"));  // would overflow a recursive parser
  CHECK(render_payload(text_bytes(std::string(100'000, '[') + std::string(100'000, ']')), false).starts_with("hex\n"));
}

TEST_CASE("large payloads are cut at a bounded width unless full") {
  bytes large(1000, std::byte{0x41});
  const std::string cut = render_payload(large, false);
  CHECK(count_lines(cut) == 1 + dump_hex_limit / 16 + 1);
  CHECK(cut.ends_with("\n    ... 744 more bytes (--full shows them)"));
  CHECK(count_lines(render_payload(large, true)) == 1 + 63);

  const bytes many = encode(basket{std::vector<std::string>(500, "abcdef")});
  const std::string shown = render_payload(many, false);
  const std::string whole = render_payload(many, true);
  REQUIRE(whole.starts_with("cbor {\"items\":[\"abcdef\","));
  CHECK(whole.size() == 5 + 10 + 500 * 9 - 1 + 2);
  CHECK(shown == whole.substr(0, 5 + dump_text_limit) + "... (" + std::to_string(whole.size() - 5 - dump_text_limit) +
                     " more characters; --full shows them)");
}

TEST_CASE("the CBOR check accepts exactly one well-formed, shallow map or array") {
  CHECK(cbor_container(raw({0x80}), 64));
  CHECK(cbor_container(raw({0xa0}), 64));
  CHECK(cbor_container(raw({0x9f, 0x01, 0x5f, 0x41, 0x61, 0x41, 0x62, 0xff, 0xff}), 64));  // indefinite lengths
  CHECK(cbor_container(raw({0xbf, 0x61, 0x61, 0xc1, 0x01, 0xff}), 64));                    // a tag inside
  CHECK_FALSE(cbor_container(raw({0x01}), 64));                                            // not a container
  CHECK_FALSE(cbor_container(raw({0x82, 0x01}), 64));                                      // truncated
  CHECK_FALSE(cbor_container(raw({0x80, 0x80}), 64));                                      // two items
  CHECK_FALSE(cbor_container(raw({0x9c}), 64));                                            // reserved
  CHECK_FALSE(cbor_container(raw({0xbf, 0x01, 0xff}), 64));                                // half a map entry
  CHECK_FALSE(cbor_container(raw({0x9f, 0x5f, 0x61, 0x61, 0xff, 0xff}), 64));  // text chunk in a byte string
  CHECK_FALSE(cbor_container(raw({0x81, 0xff}), 64));                          // break in a definite array
  CHECK_FALSE(cbor_container(raw({0x81, 0xf8, 0x10}), 64));                    // two-byte simple value < 32
  CHECK_FALSE(cbor_container(fixed_width_payload(), 64));
  bytes nested = repeated(0x81, 64);
  nested.push_back(std::byte{0x01});
  CHECK(cbor_container(nested, 64));
  nested.insert(nested.begin(), std::byte{0x81});
  CHECK_FALSE(cbor_container(nested, 64));
}

TEST_CASE("ids and manifests are printed with control bytes escaped") {
  CHECK(printable("order-17") == "order-17");
  CHECK(printable("a\x1b[2Jb\\\xff") == "a\\x1b[2Jb\\x5c\\xff");
}

TEST_CASE("weft-journal-dump shows every record of a whole journal and exits 0") {
  temp_dir dir;
  std::uint64_t second_record = 0;
  {
    auto j = open_file_journal(dir.path());
    j->append("acct-1", persistent_event{1, "acct.adjusted", 1, fixed_width_payload()});
    second_record = segment_end(dir / "00000001.log");
    j->append("acct-1", persistent_event{2, "acct.touched", 1, {}});
    j->append("acct-1", make_event(3, order_placed{7, "tea"}, "acct.ordered", 2));
    j->append("other", text_event(1, "x"));
    j->delete_up_to("other", 1);
  }
  const dump_run run = run_dump(quoted(dir.path()));
  CAPTURE(run.output);
  CHECK(run.status == 0);
  CHECK(run.output.find("offset 16 seq=1 pid=acct-1 manifest=acct.adjusted schema=1 size=12 hex\n"
                        "    0000  bb ff ff ff ff ff ff ff  01 00 00 00              |............|\n") !=
        std::string::npos);
  CHECK(run.output.find("offset " + std::to_string(second_record) +
                        " seq=2 pid=acct-1 manifest=acct.touched schema=1 size=0 empty\n") != std::string::npos);
  CHECK(run.output.find("seq=3 pid=acct-1 manifest=acct.ordered schema=2 size=" +
                        std::to_string(encode(order_placed{7, "tea"}).size()) + R"( cbor {"id":7,"item":"tea"})") !=
        std::string::npos);
  CHECK(run.output.find("pid=other DELETE up to seq=1\n") != std::string::npos);
  CHECK(run.output.ends_with("# 1 segment, 5 records shown, damage in 0 places\n"));

  // One id only.
  const dump_run only = run_dump(quoted(dir.path()) + " other");
  CHECK(only.status == 0);
  CHECK(only.output.find("acct-1") == std::string::npos);
  CHECK(only.output.ends_with("# 1 segment, 2 records shown, damage in 0 places\n"));
}

TEST_CASE("weft-journal-dump lists every good record, then reports a torn tail with file and offset, and exits 1") {
  temp_dir dir;
  std::uint64_t last_record = 0;
  {
    auto j = open_file_journal(dir.path());
    j->append("acct-1", persistent_event{1, "acct.adjusted", 1, fixed_width_payload()});
    j->append("acct-1", persistent_event{2, "acct.touched", 1, {}});
    j->append("acct-1", make_event(3, order_placed{7, "tea"}, "acct.ordered"));
    last_record = segment_end(dir / "00000001.log");
    j->append("acct-1", text_event(4, "torn"));
  }
  const auto segment = dir / "00000001.log";
  const std::uint64_t end = segment_end(segment);
  std::filesystem::resize_file(segment, end - 3);  // a write torn by a crash

  const dump_run run = run_dump(quoted(dir.path()));
  CAPTURE(run.output);
  CHECK(run.status == 1);
  for (int seq = 1; seq <= 3; ++seq)
    CHECK(run.output.find(" seq=" + std::to_string(seq) + " ") != std::string::npos);
  CHECK(run.output.find(" seq=4 ") == std::string::npos);
  const std::string damage = "00000001.log offset " + std::to_string(last_record) +
                             ": DAMAGED: incomplete record (torn write) (persistence id acct-1, unverified; " +
                             std::to_string(end - 3 - last_record) + " bytes from offset " +
                             std::to_string(last_record) +
                             " to the end of the file; nothing valid follows: a torn tail)\n";
  CHECK(run.output.find(damage) != std::string::npos);
  CHECK(run.output.find(damage) > run.output.find(" seq=3 "));  // after every good record
  CHECK(run.output.ends_with("# 1 segment, 3 records shown, damage in 1 place\n"));
}

TEST_CASE("weft-journal-dump goes on after damage in the middle of a segment") {
  temp_dir dir;
  std::uint64_t second = 0;
  std::uint64_t third = 0;
  {
    auto j = open_file_journal(dir.path());
    j->append("a", text_event(1, "one"));
    second = segment_end(dir / "00000001.log");
    j->append("a", text_event(2, "two"));
    third = segment_end(dir / "00000001.log");
    j->append("a", text_event(3, "three"));
  }
  const auto segment = dir / "00000001.log";
  std::string bytes_of;
  {
    std::ifstream in(segment, std::ios::binary);
    bytes_of.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes_of[third - 1] = static_cast<char>(bytes_of[third - 1] ^ 1);  // the second record's last payload byte
  {
    std::ofstream out(segment, std::ios::binary | std::ios::trunc);
    out << bytes_of;
  }
  const dump_run run = run_dump(quoted(segment));  // a segment file directly
  CAPTURE(run.output);
  CHECK(run.status == 1);
  CHECK(run.output.find("00000001.log offset " + std::to_string(second) + ": DAMAGED: checksum mismatch") !=
        std::string::npos);
  CHECK(run.output.find("a valid record follows at offset " + std::to_string(third) + ": the dump goes on there)") !=
        std::string::npos);
  CHECK(run.output.find("offset " + std::to_string(third) + " seq=3 ") != std::string::npos);
  CHECK(run.output.ends_with("# 1 segment, 2 records shown, damage in 1 place\n"));
}

TEST_CASE("weft-journal-dump reports a stray byte after the last record at that byte's offset") {
  temp_dir dir;
  {
    auto j = open_file_journal(dir.path());
    j->append("a", text_event(1, "one"));
  }
  const auto segment = dir / "00000001.log";
  const std::uint64_t end = segment_end(segment);
  REQUIRE(std::filesystem::file_size(segment) > end + 100);  // zero-filled ahead
  {
    std::fstream file(segment, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(static_cast<std::streamoff>(end + 100));
    file.put('\x05');
  }
  const dump_run run = run_dump(quoted(dir.path()));
  CAPTURE(run.output);
  CHECK(run.status == 1);
  CHECK(run.output.find("00000001.log offset " + std::to_string(end + 100) +
                        ": DAMAGED: non-zero byte in the zero-filled space after the last record (the last record "
                        "ends at offset " +
                        std::to_string(end) + "; ") != std::string::npos);
}

TEST_CASE("weft-journal-dump exits 2 on a usage error or a directory that does not exist") {
  CHECK(run_dump("").status == 2);
  CHECK(run_dump("--bogus /tmp").status == 2);
  temp_dir dir;
  const dump_run missing = run_dump(quoted(dir / "nope"));
  CHECK(missing.status == 2);
  CHECK(missing.output.find("does not exist") != std::string::npos);
}
