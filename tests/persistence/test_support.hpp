#pragma once

// Helpers shared by the persistence tests: a scratch directory removed at
// the end of the test, and small event builders.

#include <weft/persistence/event.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace weft::persistence::test {

class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "weft-persist-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline persistent_event text_event(std::uint64_t seq, std::string text,
                                   std::string manifest = "test-event") {
  persistent_event e;
  e.sequence_nr = seq;
  e.manifest = std::move(manifest);
  e.schema_version = 1;
  auto data = as_bytes(text);
  e.payload.assign(data.begin(), data.end());
  return e;
}

inline std::vector<persistent_event> text_events(std::uint64_t first, std::size_t count,
                                                 const std::string& prefix = "payload-") {
  std::vector<persistent_event> events;
  for (std::size_t i = 0; i < count; ++i) {
    events.push_back(text_event(first + i, prefix + std::to_string(first + i)));
  }
  return events;
}

inline std::string payload_text(const persistent_event& e) {
  return std::string(as_string_view(e.payload));
}

}  // namespace weft::persistence::test
