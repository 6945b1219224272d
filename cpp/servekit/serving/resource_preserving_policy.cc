#include "servekit/serving/resource_preserving_policy.h"

namespace servekit {

std::optional<VersionAction> ResourcePreservingPolicy::NextAction(
    absl::Span<const VersionSnapshot> versions) const {
  if (auto version = policy_util::LowestUnaspiredAvailable(versions))
    return VersionAction::Unload(*version);
  for (const VersionSnapshot& v : versions) {
    // Memory is freed only once an unload finishes; a concurrent load would
    // hold two versions after all.
    if (v.state == VersionState::kLoading || v.state == VersionState::kUnloading)
      return std::nullopt;
  }
  if (auto version = policy_util::HighestAspiredToLoad(versions))
    return VersionAction::Load(*version);
  return std::nullopt;
}

}  // namespace servekit
