#include "servekit/serving/resource_preserving_policy.h"

#include <gtest/gtest.h>

#include "policy_test_util.h"

namespace servekit {
namespace {

using test::V;
using S = VersionState;

const ResourcePreservingPolicy kPolicy;

TEST(ResourcePreservingPolicyTest, UnloadsTheOldVersionBeforeLoadingTheNewOne) {
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kAvailable, false), V(2, S::kStart, true)}),
            VersionAction::Unload(1));
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kUnloading, false), V(2, S::kStart, true)}), std::nullopt);
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kEnd, false), V(2, S::kStart, true)}),
            VersionAction::Load(2));
}

TEST(ResourcePreservingPolicyTest, LoadsOneVersionAtATime) {
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kLoading, true), V(2, S::kStart, true)}), std::nullopt);
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kAvailable, true), V(2, S::kStart, true)}),
            VersionAction::Load(2));
}

TEST(ResourcePreservingPolicyTest, NeverHoldsTwoVersionsDuringASwap) {
  std::vector<VersionSnapshot> versions = {V(1, S::kAvailable, false), V(2, S::kStart, true)};
  const auto actions =
      test::Simulate(kPolicy, versions, {}, [](const std::vector<VersionSnapshot>& now) {
        int held = 0;  // versions occupying memory
        for (const VersionSnapshot& v : now) {
          held += v.state == S::kAvailable || v.state == S::kLoading || v.state == S::kUnloading;
        }
        EXPECT_LE(held, 1);
      });
  EXPECT_EQ(actions,
            (std::vector<VersionAction>{VersionAction::Unload(1), VersionAction::Load(2)}));
  EXPECT_EQ(versions[1].state, S::kAvailable);
}

TEST(ResourcePreservingPolicyTest, RemovingTheModelUnloadsEverything) {
  std::vector<VersionSnapshot> versions = {V(1, S::kAvailable, false), V(2, S::kAvailable, false)};
  test::Simulate(kPolicy, versions);
  EXPECT_EQ(versions[0].state, S::kEnd);
  EXPECT_EQ(versions[1].state, S::kEnd);
}

}  // namespace
}  // namespace servekit
