// ReadFileToString: a whole file's bytes, with errors that name the path and
// the system's reason (NotFound, PermissionDenied, FailedPrecondition for a
// directory, DataLoss for a read error).
#pragma once

#include <string>

#include "servekit/util/status.h"

namespace servekit {

StatusOr<std::string> ReadFileToString(const std::string& path);

// The same for a file that may not exceed `max_bytes`: a larger one is an
// InvalidArgument error (naming both sizes), found before anything is read.
StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes);

}  // namespace servekit
