// The lifecycle of one model version inside the manager:
//
//   START -> LOADING -> AVAILABLE -> UNLOADING -> END
//               \-> ERROR (the load failed; retried or given up)
//
// Names and order follow TensorFlow Serving's ModelVersionStatus states so the
// REST and gRPC status APIs can report them unchanged.
#pragma once

#include "absl/strings/string_view.h"

namespace servekit {

enum class VersionState { kStart, kLoading, kAvailable, kUnloading, kEnd, kError };

// "START", "LOADING", "AVAILABLE", "UNLOADING", "END"; a failed load reports
// "END" with an error status, as TF Serving does, so kError maps to "END".
absl::string_view VersionStateName(VersionState state);

}  // namespace servekit
