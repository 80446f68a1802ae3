#pragma once

// Thin wrappers over the POSIX calls the stores need, turning failures into
// storage_error / storage_status with the file name and errno text.

#include <weft/persistence/status.hpp>

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace weft::persistence::detail {

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();

  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::string errno_text(int error);

// disk_full for ENOSPC/EDQUOT/EFBIG, io_error otherwise.
storage_errc errc_for_write(int error);

unique_fd open_file(const std::filesystem::path& path, int flags, int mode = 0644);
std::uint64_t file_size(int fd, const std::filesystem::path& path);

// Each returns 0 or the errno of the failed call (retrying EINTR and short
// writes), so callers decide how a failure affects their state.
int write_all_at(int fd, std::span<const iovec> pieces, std::uint64_t offset);
int write_all_at(int fd, std::span<const std::byte> data, std::uint64_t offset);
int sync_data(int fd, bool enabled = true);

std::size_t read_at(int fd, std::span<std::byte> out, std::uint64_t offset,
                    const std::filesystem::path& path);
void read_exact_at(int fd, std::span<std::byte> out, std::uint64_t offset,
                   const std::filesystem::path& path);

// fsync of a directory makes a created, renamed or removed entry durable.
void sync_directory(const std::filesystem::path& directory, bool enabled = true);

}  // namespace weft::persistence::detail
