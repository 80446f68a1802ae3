#include "posix_file.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace weft::persistence::detail {

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

unique_fd::~unique_fd() {
  if (fd_ >= 0) ::close(fd_);
}

std::string errno_text(int error) {
  char buffer[256];
  // GNU strerror_r returns the message pointer, which may not be buffer.
  return ::strerror_r(error, buffer, sizeof buffer);
}

storage_errc errc_for_write(int error) {
  return (error == ENOSPC || error == EDQUOT || error == EFBIG) ? storage_errc::disk_full
                                                                : storage_errc::io_error;
}

unique_fd open_file(const std::filesystem::path& path, int flags, int mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int error = errno;
    throw storage_error(storage_errc::io_error,
                        fmt::format("cannot open {}: {}", path.string(), errno_text(error)));
  }
  return unique_fd(fd);
}

std::uint64_t file_size(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int error = errno;
    throw storage_error(storage_errc::io_error,
                        fmt::format("cannot stat {}: {}", path.string(), errno_text(error)));
  }
  return static_cast<std::uint64_t>(st.st_size);
}

int write_all_at(int fd, std::span<const iovec> pieces, std::uint64_t offset) {
  std::vector<iovec> rest(pieces.begin(), pieces.end());
  std::size_t first = 0;
  while (first < rest.size()) {
    int count = static_cast<int>(std::min<std::size_t>(rest.size() - first, IOV_MAX));
    ssize_t written = ::pwritev(fd, rest.data() + first, count, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (written == 0) return EIO;
    offset += static_cast<std::uint64_t>(written);
    auto left = static_cast<std::size_t>(written);
    while (first < rest.size() && left >= rest[first].iov_len) {
      left -= rest[first].iov_len;
      ++first;
    }
    if (left > 0) {
      rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + left;
      rest[first].iov_len -= left;
    }
  }
  return 0;
}

int write_all_at(int fd, std::span<const std::byte> data, std::uint64_t offset) {
  iovec piece{const_cast<std::byte*>(data.data()), data.size()};
  return write_all_at(fd, std::span(&piece, 1), offset);
}

int sync_data(int fd, bool enabled) {
  if (!enabled) return 0;
  // No EINTR retry: after a failed fdatasync the kernel may already have
  // dropped the dirty pages, so a retry can falsely succeed (PostgreSQL's
  // "fsyncgate", 2018). Callers treat any failure as final.
  return ::fdatasync(fd) == 0 ? 0 : errno;
}

std::size_t read_at(int fd, std::span<std::byte> out, std::uint64_t offset,
                    const std::filesystem::path& path) {
  for (;;) {
    ssize_t got = ::pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno == EINTR) continue;
    int error = errno;
    throw storage_error(
        storage_errc::io_error,
        fmt::format("cannot read {} at offset {}: {}", path.string(), offset, errno_text(error)));
  }
}

void read_exact_at(int fd, std::span<std::byte> out, std::uint64_t offset,
                   const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    std::size_t got = read_at(fd, out.subspan(done), offset + done, path);
    if (got == 0) {
      throw storage_error(storage_errc::corrupt,
                          fmt::format("{}: file ends at offset {}, expected {} more bytes",
                                      path.string(), offset + done, out.size() - done));
    }
    done += got;
  }
}

void sync_directory(const std::filesystem::path& directory, bool enabled) {
  if (!enabled) return;
  unique_fd fd = open_file(directory, O_RDONLY | O_DIRECTORY);
  if (::fsync(fd.get()) != 0) {
    int error = errno;
    throw storage_error(storage_errc::io_error, fmt::format("cannot fsync directory {}: {}",
                                                            directory.string(), errno_text(error)));
  }
}

}  // namespace weft::persistence::detail
