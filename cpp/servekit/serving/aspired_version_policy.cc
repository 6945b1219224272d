#include "servekit/serving/aspired_version_policy.h"

#include "absl/strings/str_cat.h"

namespace servekit {

std::string VersionAction::ToString() const {
  return absl::StrCat(kind == Kind::kLoad ? "load " : "unload ", version);
}

namespace policy_util {

std::optional<int64_t> HighestAspiredToLoad(absl::Span<const VersionSnapshot> versions) {
  std::optional<int64_t> best;
  for (const VersionSnapshot& v : versions) {
    if (v.aspired && v.state == VersionState::kStart && (!best || v.version > *best))
      best = v.version;
  }
  return best;
}

std::optional<int64_t> LowestUnaspiredAvailable(absl::Span<const VersionSnapshot> versions) {
  std::optional<int64_t> best;
  for (const VersionSnapshot& v : versions) {
    if (!v.aspired && v.state == VersionState::kAvailable && (!best || v.version < *best))
      best = v.version;
  }
  return best;
}

}  // namespace policy_util
}  // namespace servekit
