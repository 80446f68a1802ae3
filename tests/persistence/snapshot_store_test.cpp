#include <weft/persistence/snapshot_store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace weft::persistence;
using weft::persistence::test::temp_dir;

namespace {

snapshot make_snapshot(std::string id, std::uint64_t seq, std::string state) {
  snapshot s;
  s.persistence_id = std::move(id);
  s.sequence_nr = seq;
  s.manifest = "counter-state";
  s.schema_version = 3;
  s.timestamp_ms = 1700000000000;
  auto data = as_bytes(state);
  s.payload.assign(data.begin(), data.end());
  return s;
}

std::size_t count_files(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST_CASE("the latest snapshot at or below a sequence number is loaded") {
  temp_dir dir;
  auto store = open_file_snapshot_store(dir.path());
  CHECK_FALSE(store->load_latest("counter-1").has_value());
  store->save(make_snapshot("counter-1", 10, "ten"));
  store->save(make_snapshot("counter-1", 20, "twenty"));
  store->save(make_snapshot("counter-2", 5, "other"));
  CHECK(store->load_latest("counter-1") == make_snapshot("counter-1", 20, "twenty"));
  CHECK(store->load_latest("counter-1", 19) == make_snapshot("counter-1", 10, "ten"));
  CHECK_FALSE(store->load_latest("counter-1", 9).has_value());
  auto reopened = open_file_snapshot_store(dir.path());
  CHECK(reopened->load_latest("counter-2") == make_snapshot("counter-2", 5, "other"));
}

TEST_CASE("deleting older snapshots keeps the one at the bound and newer") {
  temp_dir dir;
  auto store = open_file_snapshot_store(dir.path());
  for (std::uint64_t seq : {5, 10, 15}) store->save(make_snapshot("c", seq, "s"));
  store->delete_older_than("c", 10);
  CHECK(count_files(dir.path()) == 2);
  CHECK(store->load_latest("c", 9) == std::nullopt);
  CHECK(store->load_latest("c", 10)->sequence_nr == 10);
}

TEST_CASE("ids with slashes, dots and long names get their own safe directories") {
  temp_dir dir;
  auto store = open_file_snapshot_store(dir.path());
  std::string long_a(300, 'a');
  std::string long_b = long_a + "b";
  for (const std::string& id : {std::string("../escape"), std::string("a/b"), long_a, long_b}) {
    store->save(make_snapshot(id, 1, id));
  }
  for (const std::string& id : {std::string("../escape"), std::string("a/b"), long_a, long_b}) {
    CHECK(store->load_latest(id) == make_snapshot(id, 1, id));
  }
  CHECK_FALSE(std::filesystem::exists(dir.path().parent_path() / "escape"));
}

TEST_CASE("a damaged snapshot is refused with its file name, not skipped") {
  temp_dir dir;
  auto store = open_file_snapshot_store(dir.path());
  store->save(make_snapshot("c", 1, "old"));
  store->save(make_snapshot("c", 2, "new state"));
  auto file = dir.path() / "c" / "00000000000000000002.snap";
  REQUIRE(std::filesystem::exists(file));
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);
    f.put('#');
  }
  try {
    store->load_latest("c");
    FAIL("expected corrupt");
  } catch (const storage_error& e) {
    CHECK(e.code() == storage_errc::corrupt);
    CHECK(std::string(e.what()).find("00000000000000000002.snap: checksum mismatch") !=
          std::string::npos);
  }
  CHECK(store->load_latest("c", 1)->sequence_nr == 1);
}

TEST_CASE("a leftover temporary file from a crashed save is ignored") {
  temp_dir dir;
  auto store = open_file_snapshot_store(dir.path());
  store->save(make_snapshot("c", 1, "good"));
  std::ofstream(dir.path() / "c" / "00000000000000000009.snap.tmp") << "partial";
  CHECK(store->load_latest("c")->sequence_nr == 1);
  store->save(make_snapshot("c", 2, "next"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "c" / "00000000000000000009.snap.tmp"));
}
