// Snapshot files.
//
// Layout: <root>/<escaped id>/<sequence number, 20 digits>.snap, so a
// directory listing sorted by name is sorted by sequence number. File format
// (little-endian):
//   0  char[8] "WEFTSNAP"      8  u32 format version (1)
//   12 u32 masked CRC32C of bytes 16..end
//   16 u64 sequence number     24 i64 timestamp (ms since epoch)
//   32 u32 schema version      36 u16 id length   38 u16 manifest length
//   40 u64 payload length      48 id, manifest, payload
//
// Saving:
// 1. Write the whole file to <name>.tmp and fdatasync it.
// 2. rename() it over <name>: readers see the old file or the new, never a
//    partial one.
// 3. fsync the id's directory so the rename survives a crash (the parent
//    too when the id's directory was just created).
// Leftover .tmp files (a crash before step 2) are ignored and removed by
// the next save of that id.

#include "crc32c.hpp"
#include <weft/persistence/snapshot_store.hpp>

#include "posix_file.hpp"
#include "record_format.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <vector>

namespace weft::persistence::detail {
namespace {

constexpr std::array<char, 8> snapshot_magic{'W', 'E', 'F', 'T', 'S', 'N', 'A', 'P'};
constexpr std::uint32_t snapshot_format_version = 1;
constexpr std::size_t snapshot_header_size = 48;

template <class T>
void put(bytes& out, std::size_t at, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out[at + i] = static_cast<std::byte>(static_cast<std::uint64_t>(value) >> (8 * i));
  }
}

template <class T>
T get(std::span<const std::byte> in, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = sizeof(T); i-- > 0;)
    v = (v << 8) | std::to_integer<std::uint64_t>(in[at + i]);
  return static_cast<T>(v);
}

// Ids may hold any byte; names keep [A-Za-z0-9_.-] and %-escape the rest.
// Long ids are cut and suffixed with a hash; the file repeats the full id,
// which load checks.
std::string escape_id(std::string_view id) {
  std::string name;
  for (unsigned char c : id) {
    if (std::isalnum(c) || c == '_' || c == '-' || (c == '.' && !name.empty())) {
      name.push_back(static_cast<char>(c));
    } else {
      name += fmt::format("%{:02X}", c);
    }
  }
  if (name.size() > 150) {
    name = fmt::format("{}~{:08x}", name.substr(0, 140), crc32c(id.data(), id.size()));
  }
  return name;
}

std::string file_name(std::uint64_t sequence_nr) {
  return fmt::format("{:020}.snap", sequence_nr);
}

bool parse_file_name(const std::string& name, std::uint64_t& sequence_nr) {
  if (name.size() != 25 || !name.ends_with(".snap")) return false;
  auto [end, error] = std::from_chars(name.data(), name.data() + 20, sequence_nr);
  return error == std::errc{} && end == name.data() + 20;
}

class file_snapshot_store final : public snapshot_store {
 public:
  explicit file_snapshot_store(std::filesystem::path root) : root_(std::move(root)) {
    std::error_code error;
    std::filesystem::create_directories(root_, error);
    if (error) {
      throw storage_error(storage_errc::io_error,
                          fmt::format("snapshot store {}: cannot create the directory: {}",
                                      root_.string(), error.message()));
    }
  }

  void save(const snapshot& snap) override {
    if (snap.persistence_id.empty() || snap.persistence_id.size() > 0xFFFF ||
        snap.manifest.size() > 0xFFFF) {
      throw storage_error(storage_errc::invalid_argument,
                          "snapshot save: id must have 1 to 65535 bytes, manifest at most 65535");
    }
    auto dir = root_ / escape_id(snap.persistence_id);
    std::error_code error;
    if (std::filesystem::create_directory(dir, error)) sync_directory(root_);
    if (error) {
      throw storage_error(
          storage_errc::io_error,
          fmt::format("snapshot store: cannot create {}: {}", dir.string(), error.message()));
    }
    remove_temporaries(dir);

    bytes data(snapshot_header_size);
    std::memcpy(data.data(), snapshot_magic.data(), snapshot_magic.size());
    put<std::uint32_t>(data, 8, snapshot_format_version);
    put<std::uint64_t>(data, 16, snap.sequence_nr);
    put<std::int64_t>(data, 24, snap.timestamp_ms);
    put<std::uint32_t>(data, 32, snap.schema_version);
    put<std::uint16_t>(data, 36, static_cast<std::uint16_t>(snap.persistence_id.size()));
    put<std::uint16_t>(data, 38, static_cast<std::uint16_t>(snap.manifest.size()));
    put<std::uint64_t>(data, 40, snap.payload.size());
    auto id = as_bytes(snap.persistence_id);
    auto manifest = as_bytes(snap.manifest);
    data.insert(data.end(), id.begin(), id.end());
    data.insert(data.end(), manifest.begin(), manifest.end());
    data.insert(data.end(), snap.payload.begin(), snap.payload.end());
    put<std::uint32_t>(data, 12, mask_crc(crc32c(data.data() + 16, data.size() - 16)));

    auto target = dir / file_name(snap.sequence_nr);
    auto temporary = target;
    temporary += ".tmp";
    {
      unique_fd fd = open_file(temporary, O_WRONLY | O_CREAT | O_TRUNC);
      int failure = write_all_at(fd.get(), data, 0);
      if (failure == 0) failure = sync_data(fd.get());
      if (failure != 0) {
        ::unlink(temporary.c_str());
        throw storage_error(errc_for_write(failure),
                            fmt::format("snapshot {}: write failed: {}; the snapshot was not "
                                        "saved",
                                        target.string(), errno_text(failure)));
      }
    }
    if (::rename(temporary.c_str(), target.c_str()) != 0) {
      int failure = errno;
      ::unlink(temporary.c_str());
      throw storage_error(
          storage_errc::io_error,
          fmt::format("snapshot {}: rename failed: {}", target.string(), errno_text(failure)));
    }
    sync_directory(dir);
  }

  std::optional<snapshot> load_latest(std::string_view persistence_id,
                                      std::uint64_t up_to_sequence_nr) override {
    auto dir = root_ / escape_id(persistence_id);
    std::vector<std::uint64_t> numbers = list(dir);
    auto newest = std::find_if(numbers.rbegin(), numbers.rend(),
                               [&](std::uint64_t n) { return n <= up_to_sequence_nr; });
    if (newest == numbers.rend()) return std::nullopt;
    return load_file(dir / file_name(*newest), persistence_id, *newest);
  }

  void delete_older_than(std::string_view persistence_id, std::uint64_t sequence_nr) override {
    auto dir = root_ / escape_id(persistence_id);
    bool removed = false;
    for (std::uint64_t n : list(dir)) {
      if (n >= sequence_nr) break;
      if (::unlink((dir / file_name(n)).c_str()) != 0 && errno != ENOENT) {
        int failure = errno;
        throw storage_error(storage_errc::io_error,
                            fmt::format("snapshot {}: cannot delete: {}",
                                        (dir / file_name(n)).string(), errno_text(failure)));
      }
      removed = true;
    }
    if (removed) sync_directory(dir);
  }

 private:
  static std::vector<std::uint64_t> list(const std::filesystem::path& dir) {
    std::vector<std::uint64_t> numbers;
    std::error_code error;
    for (auto it = std::filesystem::directory_iterator(dir, error);
         !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
      std::uint64_t n = 0;
      if (parse_file_name(it->path().filename().string(), n)) numbers.push_back(n);
    }
    std::sort(numbers.begin(), numbers.end());
    return numbers;
  }

  static void remove_temporaries(const std::filesystem::path& dir) {
    std::error_code error;
    for (auto it = std::filesystem::directory_iterator(dir, error);
         !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
      if (it->path().extension() == ".tmp") ::unlink(it->path().c_str());
    }
  }

  static snapshot load_file(const std::filesystem::path& path, std::string_view persistence_id,
                            std::uint64_t sequence_nr) {
    unique_fd fd = open_file(path, O_RDONLY);
    bytes data(static_cast<std::size_t>(file_size(fd.get(), path)));
    read_exact_at(fd.get(), data, 0, path);
    auto fail = [&](std::string_view what) {
      return storage_error(
          storage_errc::corrupt,
          fmt::format("snapshot {}: {}; refusing to use it. Delete the file to recover from an "
                      "older snapshot, but only if the journal still holds the events after "
                      "that one",
                      path.string(), what));
    };
    if (data.size() < snapshot_header_size ||
        std::memcmp(data.data(), snapshot_magic.data(), snapshot_magic.size()) != 0) {
      throw fail("not a weft snapshot file");
    }
    if (get<std::uint32_t>(data, 8) != snapshot_format_version) {
      throw fail(fmt::format("unsupported format version {}", get<std::uint32_t>(data, 8)));
    }
    if (get<std::uint32_t>(data, 12) != mask_crc(crc32c(data.data() + 16, data.size() - 16))) {
      throw fail("checksum mismatch");
    }
    snapshot snap;
    snap.sequence_nr = get<std::uint64_t>(data, 16);
    snap.timestamp_ms = get<std::int64_t>(data, 24);
    snap.schema_version = get<std::uint32_t>(data, 32);
    std::size_t id_size = get<std::uint16_t>(data, 36);
    std::size_t manifest_size = get<std::uint16_t>(data, 38);
    auto payload_size = get<std::uint64_t>(data, 40);
    if (snapshot_header_size + id_size + manifest_size + payload_size != data.size()) {
      throw fail("field lengths do not add up to the file size");
    }
    auto text = reinterpret_cast<const char*>(data.data() + snapshot_header_size);
    snap.persistence_id.assign(text, id_size);
    snap.manifest.assign(text + id_size, manifest_size);
    if (snap.persistence_id != persistence_id || snap.sequence_nr != sequence_nr) {
      throw fail(
          fmt::format("it holds persistence id {} sequence number {}, not what its name "
                      "says",
                      snap.persistence_id, snap.sequence_nr));
    }
    auto payload_start =
        data.begin() + static_cast<std::ptrdiff_t>(snapshot_header_size + id_size + manifest_size);
    snap.payload.assign(payload_start, data.end());
    return snap;
  }

  const std::filesystem::path root_;
};

}  // namespace
}  // namespace weft::persistence::detail

namespace weft::persistence {

std::unique_ptr<snapshot_store> open_file_snapshot_store(const std::filesystem::path& directory) {
  return std::make_unique<detail::file_snapshot_store>(directory);
}

}  // namespace weft::persistence
