#include "servekit/serving/availability_preserving_policy.h"

namespace servekit {

std::optional<VersionAction> AvailabilityPreservingPolicy::NextAction(
    absl::Span<const VersionSnapshot> versions) const {
  bool any_aspired = false, aspired_available = false;
  for (const VersionSnapshot& v : versions) {
    any_aspired = any_aspired || v.aspired;
    aspired_available = aspired_available || (v.aspired && v.state == VersionState::kAvailable);
  }
  if (!any_aspired || aspired_available) {
    if (auto version = policy_util::LowestUnaspiredAvailable(versions))
      return VersionAction::Unload(*version);
  }
  if (auto version = policy_util::HighestAspiredToLoad(versions))
    return VersionAction::Load(*version);
  return std::nullopt;
}

}  // namespace servekit
