// ReadFileToString: a whole file's bytes, with errors that name the path and
// the system's reason (NotFound, PermissionDenied, FailedPrecondition for a
// directory, DataLoss for a read error).
#pragma once

#include <string>

#include "servekit/util/status.h"

namespace servekit {

StatusOr<std::string> ReadFileToString(const std::string& path);

// The same for a file that may not exceed `max_bytes`: a larger one is an
// InvalidArgument error (naming both sizes), found before anything is read
// when the file's size is known; otherwise (a pipe, a file that grows) the
// room it is read into never exceeds max_bytes + 1 bytes.
StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes);

// The same for a file that must be a regular file, as model files must: the
// check is made on the descriptor, opened without waiting, so that a FIFO
// put in the file's place (which would block the open, or the reads, until
// a writer comes) or a device is refused: FailedPrecondition.
StatusOr<std::string> ReadRegularFileToString(const std::string& path, size_t max_bytes);

}  // namespace servekit
