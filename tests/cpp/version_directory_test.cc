#include "servekit/serving/version_directory.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

class VersionDirectoryTest : public ::testing::Test {
 protected:
  void Touch(const fs::path& relative) {
    fs::create_directories((base_ / relative).parent_path());
    std::ofstream(base_ / relative) << "x";
  }
  test::TempDir dir_;
  const fs::path base_ = dir_.path();
};

TEST_F(VersionDirectoryTest, ListsNumberedDirectoriesOnly) {
  for (const char* dir : {"3", "10", "1", "007", "tmp", "3.partial", ".5", "0", "-2", "+4", "1e3",
                          "99999999999999999999"}) {
    fs::create_directories(base_ / dir);
  }
  Touch("12");  // a file, not a directory
  auto versions = ScanVersions(base_.string());
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(*versions, (std::vector<int64_t>{1, 3, 10}));
}

TEST_F(VersionDirectoryTest, EmptyBasePathHasNoVersions) {
  auto versions = ScanVersions(base_.string());
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_TRUE(versions->empty());
}

TEST_F(VersionDirectoryTest, MissingOrNonDirectoryBasePathIsReported) {
  auto missing = ScanVersions((base_ / "nope").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("does not exist"), absl::string_view::npos);
  Touch("file");
  EXPECT_EQ(ScanVersions((base_ / "file").string()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(VersionDirectoryTest, UnreadableBasePathIsReported) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any directory";
  fs::create_directories(base_ / "locked" / "1");
  fs::permissions(base_ / "locked", fs::perms::none);
  EXPECT_EQ(ScanVersions((base_ / "locked").string()).status().code(),
            absl::StatusCode::kPermissionDenied);
  fs::permissions(base_ / "locked", fs::perms::owner_all);
}

TEST_F(VersionDirectoryTest, DetectsThePlatform) {
  Touch("1/model.onnx");
  Touch("2/saved_model.pb");
  fs::create_directories(base_ / "3");
  EXPECT_EQ(*DetectPlatform(VersionPath(base_.string(), 1)), "onnx");
  EXPECT_EQ(*DetectPlatform(VersionPath(base_.string(), 2)), "tensorflow");
  auto empty = DetectPlatform(VersionPath(base_.string(), 3));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(empty.status().message().find("no model.onnx"), absl::string_view::npos);
}

TEST_F(VersionDirectoryTest, VersionPathJoins) {
  EXPECT_EQ(VersionPath("/models/mnist", 12), "/models/mnist/12");
}

}  // namespace
}  // namespace servekit
