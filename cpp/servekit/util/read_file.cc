#include "servekit/util/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

namespace {

// Reads `fd` (opened from `path`, whose fstat gave `info`) to its end.
StatusOr<std::string> ReadOpened(const UniqueFd& fd, const struct stat& info,
                                 const std::string& path, size_t max_bytes) {
  if (info.st_size > 0 && static_cast<uint64_t>(info.st_size) > max_bytes) {
    return TooLarge(path, static_cast<uint64_t>(info.st_size), max_bytes);
  }
  // Read straight into the string: a file of known size in one go. Whether
  // more follows (the file grew, or it is a pipe) is asked with one byte
  // first, so that a file that did not grow gets no more room than its size;
  // the room then doubles, up to max_bytes + 1 (one byte over says too large).
  auto read_some = [&fd](char* into, size_t size) {
    ssize_t n;
    do {
      n = ::read(fd.get(), into, size);
    } while (n < 0 && errno == EINTR);
    return n;
  };
  const size_t most = max_bytes == std::numeric_limits<size_t>::max() ? max_bytes : max_bytes + 1;
  std::string bytes(info.st_size > 0 ? static_cast<size_t>(info.st_size) : 0, '\0');
  size_t got = 0;
  while (true) {
    ssize_t n;
    if (got < bytes.size()) {
      n = read_some(bytes.data() + got, bytes.size() - got);
    } else {
      char next;
      n = read_some(&next, 1);
      if (n == 1) {
        bytes.resize(std::min(most, std::max<size_t>(4096, 2 * bytes.size())));
        bytes[got] = next;
      }
    }
    if (n == 0) break;
    if (n < 0) {
      const int error = errno;
      return ErrnoStatus(error, "read", path);
    }
    got += static_cast<size_t>(n);
    if (got > max_bytes) return TooLarge(path, got, max_bytes);  // grew after fstat, or a pipe
  }
  bytes.resize(got);
  return bytes;
}

}  // namespace

StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int error = errno;
    return ErrnoStatus(error, "open", path);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) == 0 && S_ISDIR(info.st_mode)) {
    return ErrnoStatus(EISDIR, "read", path);
  }
  return ReadOpened(fd, info, path, max_bytes);
}

StatusOr<RegularFile> OpenRegularFile(const std::string& path) {
  auto not_regular = [&path] {
    return absl::FailedPreconditionError(absl::StrCat("'", path, "' is not a regular file"));
  };
  RegularFile file;
  if (::stat(path.c_str(), &file.info) != 0) {
    const int error = errno;
    return ErrnoStatus(error, "open", path);
  }
  if (!S_ISREG(file.info.st_mode)) return not_regular();
  file.fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!file.fd.valid()) {
    const int error = errno;
    return ErrnoStatus(error, "open", path);
  }
  if (::fstat(file.fd.get(), &file.info) != 0) {
    const int error = errno;
    return ErrnoStatus(error, "read", path);
  }
  if (!S_ISREG(file.info.st_mode)) return not_regular();
  // Back to blocking. O_NONBLOCK is the only status flag open() set, so
  // setting none clears it without asking for the flags first (F_SETFL leaves
  // the access mode and O_CLOEXEC, a descriptor flag, alone).
  if (::fcntl(file.fd.get(), F_SETFL, 0) != 0) {
    const int error = errno;
    return ErrnoStatus(error, "read", path);
  }
  return file;
}

StatusOr<std::string> ReadRegularFileToString(const std::string& path, size_t max_bytes) {
  ASSIGN_OR_RETURN(RegularFile file, OpenRegularFile(path));
  return ReadOpened(file.fd, file.info, path, max_bytes);
}

}  // namespace servekit
