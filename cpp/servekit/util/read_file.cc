#include "servekit/util/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace servekit {
namespace {

Status ErrnoStatus(int error, const std::string& what, const std::string& path) {
  const std::string message =
      absl::StrCat("cannot ", what, " '", path, "': ", std::strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EISDIR:
      return absl::FailedPreconditionError(message);
    default:
      return absl::DataLossError(message);
  }
}

Status TooLarge(const std::string& path, uint64_t size, size_t max_bytes) {
  return absl::InvalidArgumentError(
      absl::StrCat("'", path, "' has ", size, " bytes or more, over the limit of ", max_bytes));
}

}  // namespace

StatusOr<std::string> ReadFileToString(const std::string& path) {
  return ReadFileToString(path, std::numeric_limits<size_t>::max());
}

StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string bytes;
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    ::close(fd);
    return ErrnoStatus(EISDIR, "read", path);
  }
  if (info.st_size > 0 && static_cast<uint64_t>(info.st_size) > max_bytes) {
    ::close(fd);
    return TooLarge(path, static_cast<uint64_t>(info.st_size), max_bytes);
  }
  if (info.st_size > 0) {
    // A file of known size is read straight into the string; what it holds
    // beyond that (it grew), and a pipe's bytes, come through the buffer below.
    bytes.resize(static_cast<size_t>(info.st_size));
    size_t got = 0;
    while (got < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        const int error = errno;
        ::close(fd);
        return ErrnoStatus(error, "read", path);
      }
      got += static_cast<size_t>(n);
    }
    bytes.resize(got);
  }
  char buffer[1 << 12];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return ErrnoStatus(error, "read", path);
    }
    bytes.append(buffer, static_cast<size_t>(n));
    if (bytes.size() > max_bytes) {  // the file grew after fstat, or is a pipe
      ::close(fd);
      return TooLarge(path, bytes.size(), max_bytes);
    }
  }
  ::close(fd);
  return bytes;
}

}  // namespace servekit
