// Where endpoints put their sockets, and how weft-shell finds them: one
// socket per process, <dir>/<program>-<os pid>.sock, in a directory only
// this user can enter (0700), so the socket's own 0600 mode is not the
// only guard (some systems ignore socket file permissions).

#include <weft/shell/client.hpp>
#include <weft/shell/endpoint.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>

namespace weft::shell {

std::string default_socket_dir(bool create) {
  std::string dir;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg == '/') {
    dir = std::string(xdg) + "/weft";
  } else {
    dir = "/tmp/weft-" + std::to_string(::getuid());
  }
  if (!create) return dir;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "weft shell: cannot create socket directory " + dir);
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    throw std::system_error(errno, std::generic_category(), "weft shell: cannot inspect socket directory " + dir);
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 0077) != 0) {
    throw std::system_error(std::make_error_code(std::errc::permission_denied),
                            "weft shell: socket directory " + dir +
                                " is not a directory owned by this user with mode 0700; remove it or set "
                                "endpoint_options::socket_path");
  }
  return dir;
}

std::vector<discovered_endpoint> discover(const std::string& dir_in) {
  const std::string dir = dir_in.empty() ? default_socket_dir(false) : dir_in;
  std::vector<discovered_endpoint> found;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return found;
  while (const dirent* entry = ::readdir(d)) {
    const std::string file = entry->d_name;
    if (!file.ends_with(".sock")) continue;
    const std::string stem = file.substr(0, file.size() - 5);
    const auto dash = stem.rfind('-');
    if (dash == std::string::npos) continue;
    const int os_pid = std::atoi(stem.c_str() + dash + 1);
    if (os_pid <= 0) continue;
    // A process that died without cleaning up leaves a stale socket.
    if (::kill(os_pid, 0) != 0 && errno == ESRCH) continue;
    found.push_back({dir + "/" + file, stem.substr(0, dash), os_pid});
  }
  ::closedir(d);
  std::sort(found.begin(), found.end(),
            [](const discovered_endpoint& a, const discovered_endpoint& b) { return a.path < b.path; });
  return found;
}

}  // namespace weft::shell
