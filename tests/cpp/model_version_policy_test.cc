#include "servekit/serving/model_version_policy.h"

#include <gtest/gtest.h>

#include "servekit/serving/version_state.h"

namespace servekit {
namespace {

using Versions = std::vector<int64_t>;

TEST(ModelVersionPolicyTest, LatestKeepsTheNewest) {
  EXPECT_EQ(SelectAspiredVersions(ModelVersionPolicy::Latest(), {3, 1, 10, 2}), (Versions{10}));
  EXPECT_EQ(SelectAspiredVersions(ModelVersionPolicy::Latest(2), {3, 1, 10, 2}), (Versions{3, 10}));
  EXPECT_EQ(SelectAspiredVersions(ModelVersionPolicy::Latest(5), {2, 1}), (Versions{1, 2}));
  EXPECT_EQ(SelectAspiredVersions(ModelVersionPolicy::Latest(), {}), (Versions{}));
}

TEST(ModelVersionPolicyTest, AllKeepsEverythingOnceSorted) {
  EXPECT_EQ(SelectAspiredVersions(ModelVersionPolicy::All(), {7, 3, 3, 5}), (Versions{3, 5, 7}));
}

TEST(ModelVersionPolicyTest, SpecificKeepsOnlyNamedVersionsThatExist) {
  EXPECT_EQ(SelectAspiredVersions(ModelVersionPolicy::Specific({2, 9}), {1, 2, 3}), (Versions{2}));
  EXPECT_EQ(SelectAspiredVersions(ModelVersionPolicy::Specific({9}), {1, 2, 3}), (Versions{}));
}

TEST(ModelVersionPolicyTest, Validation) {
  EXPECT_TRUE(ModelVersionPolicy::Latest(1).Validate().ok());
  EXPECT_TRUE(ModelVersionPolicy::All().Validate().ok());
  EXPECT_TRUE(ModelVersionPolicy::Specific({1, 4}).Validate().ok());
  const Status zero = ModelVersionPolicy::Latest(0).Validate();
  EXPECT_EQ(zero.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(zero.message().find("num_versions"), absl::string_view::npos) << zero;
  EXPECT_EQ(ModelVersionPolicy::Specific({}).Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ModelVersionPolicy::Specific({3, 0}).Validate().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelVersionPolicyTest, ToStringUsesTheConfigSyntax) {
  EXPECT_EQ(ModelVersionPolicy::Latest(2).ToString(), "latest { num_versions: 2 }");
  EXPECT_EQ(ModelVersionPolicy::All().ToString(), "all {}");
  EXPECT_EQ(ModelVersionPolicy::Specific({1, 3}).ToString(),
            "specific { versions: 1 versions: 3 }");
}

TEST(ModelVersionPolicyTest, OverridesAddLoadedVersionsOnDiskAndDropUnloadedOnes) {
  VersionOverrides overrides;
  EXPECT_EQ(ApplyVersionOverrides({3}, {1, 2, 3}, overrides), (Versions{3}));
  overrides.loaded = {1, 7};  // 7 is not on disk: not served
  EXPECT_EQ(ApplyVersionOverrides({3}, {1, 2, 3}, overrides), (Versions{1, 3}));
  overrides.unloaded = {3};
  EXPECT_EQ(ApplyVersionOverrides({3}, {1, 2, 3}, overrides), (Versions{1}));
  // Unloading every selected version leaves nothing to serve.
  EXPECT_EQ(ApplyVersionOverrides({2, 3}, {2, 3}, VersionOverrides{{}, {2, 3}}), (Versions{}));
}

TEST(VersionStateTest, NamesFollowTfServing) {
  EXPECT_EQ(VersionStateName(VersionState::kStart), "START");
  EXPECT_EQ(VersionStateName(VersionState::kLoading), "LOADING");
  EXPECT_EQ(VersionStateName(VersionState::kAvailable), "AVAILABLE");
  EXPECT_EQ(VersionStateName(VersionState::kUnloading), "UNLOADING");
  EXPECT_EQ(VersionStateName(VersionState::kEnd), "END");
  EXPECT_EQ(VersionStateName(VersionState::kError), "END");
}

}  // namespace
}  // namespace servekit
