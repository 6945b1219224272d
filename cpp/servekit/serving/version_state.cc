#include "servekit/serving/version_state.h"

namespace servekit {

absl::string_view VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kStart:
      return "START";
    case VersionState::kLoading:
      return "LOADING";
    case VersionState::kAvailable:
      return "AVAILABLE";
    case VersionState::kUnloading:
      return "UNLOADING";
    case VersionState::kEnd:
      return "END";
    case VersionState::kError:
      return "END";
  }
  return "END";
}

}  // namespace servekit
