// AspiredVersionPolicy: decides, for one model, which version to load or unload
// next, given where every version is in its lifecycle and whether the source
// still aspires to it (wants it served).
//
// Contract: NextAction is a pure function of the snapshot: no state, no I/O,
// thread-safe. The manager calls it after every state change and performs the
// action it returns, one at a time, until it returns nullopt. Each policy lives
// in its own file and is tested alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/types/span.h"
#include "servekit/serving/version_state.h"

namespace servekit {

struct VersionSnapshot {
  int64_t version = 0;
  VersionState state = VersionState::kStart;
  bool aspired = false;
};

struct VersionAction {
  enum class Kind { kLoad, kUnload };
  Kind kind = Kind::kLoad;
  int64_t version = 0;

  static VersionAction Load(int64_t version) { return {Kind::kLoad, version}; }
  static VersionAction Unload(int64_t version) { return {Kind::kUnload, version}; }
  bool operator==(const VersionAction& other) const {
    return kind == other.kind && version == other.version;
  }
  std::string ToString() const;
};

class AspiredVersionPolicy {
 public:
  virtual ~AspiredVersionPolicy() = default;
  // The next load or unload, or nullopt when nothing should change now.
  virtual std::optional<VersionAction> NextAction(
      absl::Span<const VersionSnapshot> versions) const = 0;
};

namespace policy_util {

// The highest aspired version that has not started loading, if any.
std::optional<int64_t> HighestAspiredToLoad(absl::Span<const VersionSnapshot> versions);
// The lowest version that is AVAILABLE but no longer aspired, if any.
std::optional<int64_t> LowestUnaspiredAvailable(absl::Span<const VersionSnapshot> versions);

}  // namespace policy_util
}  // namespace servekit
