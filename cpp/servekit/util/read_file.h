// ReadFileToString: a whole file's bytes, with errors that name the path and
// the system's reason (NotFound, PermissionDenied, FailedPrecondition for a
// directory, DataLoss for a read error).
#pragma once

#include <sys/stat.h>

#include <string>

#include "servekit/util/status.h"
#include "servekit/util/unique_fd.h"

namespace servekit {

StatusOr<std::string> ReadFileToString(const std::string& path);

// The same for a file that may not exceed `max_bytes`: a larger one is an
// InvalidArgument error (naming both sizes), found before anything is read
// when the file's size is known; otherwise (a pipe, a file that grows) the
// room it is read into never exceeds max_bytes + 1 bytes.
StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes);

// A regular file opened for (blocking) reads, and its fstat: what model
// files are read through. stat first, so that a device already in the file's
// place is not opened (opening one can have effects); the open does not wait,
// so that a FIFO swapped in after the stat is not waited on (it would block
// until a writer comes); fstat then checks what was opened. Anything but a
// regular file is FailedPrecondition ("... is not a regular file"); other
// errors as ReadFileToString's.
struct RegularFile {
  UniqueFd fd;
  struct stat info {};
};
StatusOr<RegularFile> OpenRegularFile(const std::string& path);

// ReadFileToString for a file opened by OpenRegularFile.
StatusOr<std::string> ReadRegularFileToString(const std::string& path, size_t max_bytes);

}  // namespace servekit
