#include "servekit/serving/availability_preserving_policy.h"

#include <gtest/gtest.h>

#include "policy_test_util.h"

namespace servekit {
namespace {

using test::V;
using S = VersionState;

const AvailabilityPreservingPolicy kPolicy;

TEST(AvailabilityPreservingPolicyTest, NothingToDo) {
  EXPECT_EQ(kPolicy.NextAction({}), std::nullopt);
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kAvailable, true)}), std::nullopt);
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kLoading, true)}), std::nullopt);
}

TEST(AvailabilityPreservingPolicyTest, LoadsTheHighestNewAspiredVersionFirst) {
  EXPECT_EQ(
      kPolicy.NextAction({V(1, S::kStart, true), V(3, S::kStart, true), V(2, S::kStart, true)}),
      VersionAction::Load(3));
}

TEST(AvailabilityPreservingPolicyTest, KeepsTheOldVersionUntilTheNewOneIsAvailable) {
  // 2 is aspired but still loading: 1 must keep serving.
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kAvailable, false), V(2, S::kLoading, true)}),
            std::nullopt);
  // 2 has not started: load it, don't unload 1.
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kAvailable, false), V(2, S::kStart, true)}),
            VersionAction::Load(2));
  // 2 is available: now 1 goes.
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kAvailable, false), V(2, S::kAvailable, true)}),
            VersionAction::Unload(1));
}

TEST(AvailabilityPreservingPolicyTest, AFailedNewVersionLeavesTheOldOneServing) {
  EXPECT_EQ(kPolicy.NextAction({V(1, S::kAvailable, false), V(2, S::kError, true)}), std::nullopt);
}

TEST(AvailabilityPreservingPolicyTest, RemovingTheModelUnloadsEverything) {
  EXPECT_EQ(kPolicy.NextAction({V(2, S::kAvailable, false), V(1, S::kAvailable, false)}),
            VersionAction::Unload(1));
}

TEST(AvailabilityPreservingPolicyTest, UnloadsBeforeLoadingOnceAnAspiredVersionServes) {
  // latest{2}: 3 and 4 aspired, 3 serving, 4 new, 1 stale. Free 1 first, then load 4.
  EXPECT_EQ(kPolicy.NextAction(
                {V(1, S::kAvailable, false), V(3, S::kAvailable, true), V(4, S::kStart, true)}),
            VersionAction::Unload(1));
}

TEST(AvailabilityPreservingPolicyTest, ASwapNeverLeavesTheModelWithoutAnAvailableVersion) {
  std::vector<VersionSnapshot> versions = {V(1, S::kAvailable, false), V(2, S::kStart, true)};
  const auto actions =
      test::Simulate(kPolicy, versions, {}, [](const std::vector<VersionSnapshot>& now) {
        EXPECT_GE(test::CountAvailable(now), 1) << "the model went dark during the swap";
      });
  EXPECT_EQ(actions,
            (std::vector<VersionAction>{VersionAction::Load(2), VersionAction::Unload(1)}));
  EXPECT_EQ(versions[0].state, S::kEnd);
  EXPECT_EQ(versions[1].state, S::kAvailable);
}

TEST(AvailabilityPreservingPolicyTest, ASwapToAFailingVersionKeepsTheOldOne) {
  std::vector<VersionSnapshot> versions = {V(1, S::kAvailable, false), V(2, S::kStart, true)};
  const auto actions = test::Simulate(kPolicy, versions, /*failing=*/{2});
  EXPECT_EQ(actions, (std::vector<VersionAction>{VersionAction::Load(2)}));
  EXPECT_EQ(versions[0].state, S::kAvailable);
  EXPECT_EQ(versions[1].state, S::kError);
}

}  // namespace
}  // namespace servekit
