// ModelVersionPolicy: which of the versions found under a model's base_path the
// server should serve, as TensorFlow Serving's model_version_policy says it:
// `latest { num_versions }` (default: the newest one), `all {}`, or
// `specific { versions }`. SelectAspiredVersions is a pure function.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "servekit/util/status.h"

namespace servekit {

struct ModelVersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int64_t num_versions = 1;       // kLatest
  std::vector<int64_t> versions;  // kSpecific

  static ModelVersionPolicy Latest(int64_t num_versions = 1) {
    return {Kind::kLatest, num_versions, {}};
  }
  static ModelVersionPolicy All() { return {Kind::kAll, 0, {}}; }
  static ModelVersionPolicy Specific(std::vector<int64_t> versions) {
    return {Kind::kSpecific, 0, std::move(versions)};
  }

  // InvalidArgument for latest with num_versions < 1, specific with no
  // versions, or a version that is not a positive number.
  Status Validate() const;
  // "latest { num_versions: 2 }", "all {}", "specific { versions: 1 versions: 3 }".
  std::string ToString() const;
};

// The versions to serve out of those present on disk, in ascending order.
// Versions a `specific` policy names that are not on disk are simply absent
// from the result (the caller reports them).
std::vector<int64_t> SelectAspiredVersions(const ModelVersionPolicy& policy,
                                           absl::Span<const int64_t> on_disk);

// Explicit choices an operator made for one model at runtime, on top of its
// policy (ServerCore::LoadVersion / UnloadVersion). They last until the model
// is removed or the same version is chosen the other way.
struct VersionOverrides {
  std::set<int64_t> loaded;    // served while on disk, even if the policy would not pick them
  std::set<int64_t> unloaded;  // never served, even if the policy picks them

  bool empty() const { return loaded.empty() && unloaded.empty(); }
};

// `selected` (from SelectAspiredVersions) with the overrides applied: plus the
// explicitly loaded versions present on disk, minus the unloaded ones;
// ascending.
std::vector<int64_t> ApplyVersionOverrides(absl::Span<const int64_t> selected,
                                           absl::Span<const int64_t> on_disk,
                                           const VersionOverrides& overrides);

}  // namespace servekit
