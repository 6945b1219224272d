// Helpers for the version-policy tests: snapshots and a tiny simulated manager
// that applies a policy's actions until it has nothing left to do.
#pragma once

#include <functional>
#include <vector>

#include "servekit/serving/aspired_version_policy.h"

namespace servekit::test {

inline VersionSnapshot V(int64_t version, VersionState state, bool aspired) {
  return VersionSnapshot{version, state, aspired};
}

// Runs `policy` to a fixed point. A load or unload takes one step (LOADING or
// UNLOADING) before it completes; versions listed in `failing` end in kError.
// `observe` sees the snapshot after every step. Returns the actions taken.
inline std::vector<VersionAction> Simulate(
    const AspiredVersionPolicy& policy, std::vector<VersionSnapshot>& versions,
    const std::vector<int64_t>& failing = {},
    const std::function<void(const std::vector<VersionSnapshot>&)>& observe = nullptr) {
  std::vector<VersionAction> actions;
  for (int step = 0; step < 100; ++step) {
    bool progressed = false;
    // Complete operations started in the previous step.
    for (VersionSnapshot& v : versions) {
      if (v.state == VersionState::kLoading) {
        const bool fails = std::find(failing.begin(), failing.end(), v.version) != failing.end();
        v.state = fails ? VersionState::kError : VersionState::kAvailable;
        progressed = true;
      } else if (v.state == VersionState::kUnloading) {
        v.state = VersionState::kEnd;
        progressed = true;
      }
    }
    if (observe) observe(versions);
    if (auto action = policy.NextAction(versions)) {
      actions.push_back(*action);
      for (VersionSnapshot& v : versions) {
        if (v.version != action->version) continue;
        v.state = action->kind == VersionAction::Kind::kLoad ? VersionState::kLoading
                                                             : VersionState::kUnloading;
      }
      progressed = true;
      if (observe) observe(versions);
    }
    if (!progressed) break;
  }
  return actions;
}

inline int CountAvailable(const std::vector<VersionSnapshot>& versions) {
  int n = 0;
  for (const VersionSnapshot& v : versions) n += v.state == VersionState::kAvailable;
  return n;
}

}  // namespace servekit::test
