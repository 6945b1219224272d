// ResourcePreservingPolicy: for models too large to hold two versions at once.
// Versions no longer aspired are unloaded first; a new version starts loading
// only when no other version is AVAILABLE-but-unaspired, LOADING or UNLOADING.
// The model is briefly unavailable during a swap: that is the trade-off.
#pragma once

#include "servekit/serving/aspired_version_policy.h"

namespace servekit {

class ResourcePreservingPolicy : public AspiredVersionPolicy {
 public:
  std::optional<VersionAction> NextAction(
      absl::Span<const VersionSnapshot> versions) const override;
};

}  // namespace servekit
