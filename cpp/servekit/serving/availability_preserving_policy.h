// AvailabilityPreservingPolicy (the default): a model never goes dark during a
// version change. New versions load while old ones keep serving; an old version
// is unloaded only once an aspired version is AVAILABLE, or when the model is
// being removed (nothing is aspired any more). If the new version fails to
// load, the old one keeps serving.
#pragma once

#include "servekit/serving/aspired_version_policy.h"

namespace servekit {

class AvailabilityPreservingPolicy : public AspiredVersionPolicy {
 public:
  std::optional<VersionAction> NextAction(
      absl::Span<const VersionSnapshot> versions) const override;
};

}  // namespace servekit
