#include "servekit/serving/fs_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "serving_test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;
using S = VersionState;

class FileSystemSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = dir_.path() / "m";
    fs::create_directories(base_);
    ManagerOptions options;
    options.load = test::LoadVersionFromDisk;
    options.max_num_load_retries = 200;
    options.load_retry_interval = absl::Milliseconds(5);
    manager_ = std::make_unique<Manager>(std::move(options));
  }
  void Publish(int64_t version) { test::PublishVersion(base_, version); }
  ModelConfig Config(ModelVersionPolicy policy = ModelVersionPolicy::Latest()) {
    ModelConfig c;
    c.name = "m";
    c.base_path = base_.string();
    c.version_policy = policy;
    return c;
  }
  std::map<int64_t, S> States() {
    std::map<int64_t, S> out;
    if (auto status = manager_->GetStatus("m"); status.ok()) {
      for (const VersionStatus& v : *status) out[v.version] = v.state;
    }
    return out;
  }
  bool Eventually(const std::map<int64_t, S>& expected) {
    for (int i = 0; i < 2000; ++i) {
      if (States() == expected) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }
  test::TempDir dir_;  // declared first: removed after the manager is gone
  fs::path base_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(FileSystemSourceTest, ServesTheLatestVersionAndSwapsOnANewOne) {
  Publish(1);
  FileSystemSource source(manager_.get(), absl::ZeroDuration());
  source.SetModels({Config()});
  ASSERT_TRUE(manager_->WaitUntilAvailable("m", 1, absl::Seconds(10)).ok());
  Publish(2);
  source.PollNow();
  ASSERT_TRUE(manager_->WaitUntilAvailable("m", 2, absl::Seconds(10)).ok());
  EXPECT_TRUE(Eventually({{2, S::kAvailable}}));
  EXPECT_TRUE(source.BasePathStatus("m").ok());
}

TEST_F(FileSystemSourceTest, AVersionStillBeingWrittenIsRetriedWhileTheOldOneServes) {
  Publish(1);
  FileSystemSource source(manager_.get(), absl::ZeroDuration());
  source.SetModels({Config()});
  ASSERT_TRUE(manager_->WaitUntilAvailable("m", 1, absl::Seconds(10)).ok());
  fs::create_directories(base_ / "2");  // the writer has not finished yet
  source.PollNow();
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_EQ(manager_->GetHandle("m")->version(), 1);
  EXPECT_EQ(States().at(2), S::kLoading);
  std::ofstream(base_ / "2" / "model.onnx") << "x";  // now it has
  ASSERT_TRUE(manager_->WaitUntilAvailable("m", 2, absl::Seconds(10)).ok());
  EXPECT_EQ(manager_->GetHandle("m")->version(), 2);
}

TEST_F(FileSystemSourceTest, AMissingBasePathIsReportedAndServingContinues) {
  Publish(1);
  FileSystemSource source(manager_.get(), absl::ZeroDuration());
  source.SetModels({Config()});
  ASSERT_TRUE(manager_->WaitUntilAvailable("m", 1, absl::Seconds(10)).ok());
  fs::rename(base_, base_.string() + "_moved");
  source.PollNow();
  const Status scan = source.BasePathStatus("m");
  EXPECT_EQ(scan.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(scan.message().find("does not exist"), absl::string_view::npos);
  EXPECT_EQ(manager_->GetHandle("m")->version(), 1);
  fs::rename(base_.string() + "_moved", base_);
}

TEST_F(FileSystemSourceTest, AppliesTheVersionPolicy) {
  for (int64_t v : {1, 2, 3}) Publish(v);
  FileSystemSource source(manager_.get(), absl::ZeroDuration());
  source.SetModels({Config(ModelVersionPolicy::All())});
  EXPECT_TRUE(Eventually({{1, S::kAvailable}, {2, S::kAvailable}, {3, S::kAvailable}}));
  source.SetModels({Config(ModelVersionPolicy::Specific({2}))});
  EXPECT_TRUE(Eventually({{2, S::kAvailable}}));
  source.SetModels({Config(ModelVersionPolicy::Latest(2))});
  EXPECT_TRUE(Eventually({{2, S::kAvailable}, {3, S::kAvailable}}));
}

TEST_F(FileSystemSourceTest, RemovedVersionDirectoriesAndModelsAreUnloaded) {
  Publish(1);
  Publish(2);
  FileSystemSource source(manager_.get(), absl::ZeroDuration());
  source.SetModels({Config(ModelVersionPolicy::All())});
  EXPECT_TRUE(Eventually({{1, S::kAvailable}, {2, S::kAvailable}}));
  fs::remove_all(base_ / "1");
  source.PollNow();
  EXPECT_TRUE(Eventually({{2, S::kAvailable}}));
  source.SetModels({});
  EXPECT_TRUE(Eventually({}));
  EXPECT_EQ(source.BasePathStatus("m").code(), absl::StatusCode::kNotFound);
}

TEST_F(FileSystemSourceTest, ThePollingThreadFindsNewVersions) {
  Publish(1);
  FileSystemSource source(manager_.get(), absl::Milliseconds(10));
  source.SetModels({Config()});
  ASSERT_TRUE(manager_->WaitUntilAvailable("m", 1, absl::Seconds(10)).ok());
  Publish(5);
  EXPECT_TRUE(manager_->WaitUntilAvailable("m", 5, absl::Seconds(10)).ok());
}

}  // namespace
}  // namespace servekit
