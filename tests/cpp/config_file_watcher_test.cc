#include "servekit/serving/config_file_watcher.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "serving_test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

class ConfigFileWatcherTest : public ::testing::Test {
 protected:
  ConfigFileWatcherTest() {
    test::PublishVersion(root_ / "a", 1);
    test::PublishVersion(root_ / "b", 2);
  }
  static ServerCoreOptions Options() {
    ServerCoreOptions o;
    o.load = test::LoadVersionFromDisk;
    o.file_system_poll_wait = absl::ZeroDuration();
    return o;
  }
  std::string ConfigFor(std::initializer_list<std::string> names) const {
    std::string text = "model_config_list {\n";
    for (const std::string& name : names) {
      text += "  config { name: '" + name + "' base_path: '" + (root_ / name).string() + "' }\n";
    }
    return text + "}\n";
  }
  void WriteConfig(const std::string& text) {
    // Written beside and renamed into place, as config management tools do.
    std::ofstream(config_.string() + ".tmp") << text;
    fs::rename(config_.string() + ".tmp", config_);
  }
  std::vector<std::string> Names(const ServerCore& core) const {
    std::vector<std::string> names;
    for (const ModelConfig& m : core.Models()) names.push_back(m.name);
    return names;
  }

  test::TempDir dir_;
  const fs::path root_ = dir_.path();
  const fs::path config_ = root_ / "models.config";
};

TEST_F(ConfigFileWatcherTest, AppliesTheFileAndItsChanges) {
  WriteConfig(ConfigFor({"a"}));
  ServerCore core(Options());
  auto watcher = ConfigFileWatcher::Start(&core, config_.string(), absl::ZeroDuration());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  EXPECT_EQ(Names(core), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(core.GetHandle(ModelSpec::Latest("a")).ok());

  WriteConfig(ConfigFor({"a", "b"}));
  ASSERT_TRUE((*watcher)->CheckNow().ok());
  EXPECT_EQ(Names(core), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(core.GetHandle(ModelSpec::Latest("b")).ok());
}

TEST_F(ConfigFileWatcherTest, ABadFileIsReportedAndTheRunningConfigStays) {
  WriteConfig(ConfigFor({"a"}));
  ServerCore core(Options());
  auto watcher = ConfigFileWatcher::Start(&core, config_.string(), absl::ZeroDuration());
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  WriteConfig("model_config_list { config { name: 'b' ");  // cut short
  const Status broken = (*watcher)->CheckNow();
  EXPECT_EQ(broken.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.message().find(config_.string()), absl::string_view::npos) << broken;
  EXPECT_EQ((*watcher)->LastStatus(), broken);
  EXPECT_EQ(Names(core), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(core.GetHandle(ModelSpec::Latest("a")).ok());

  fs::remove(config_);
  EXPECT_EQ((*watcher)->CheckNow().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(core.GetHandle(ModelSpec::Latest("a")).ok());

  // The same text as before the trouble: nothing to reload, and healthy again.
  WriteConfig(ConfigFor({"a"}));
  EXPECT_TRUE((*watcher)->CheckNow().ok());
  EXPECT_TRUE((*watcher)->LastStatus().ok());
}

TEST_F(ConfigFileWatcherTest, StartFailsOnABadFile) {
  ServerCore core(Options());
  EXPECT_EQ(ConfigFileWatcher::Start(&core, config_.string(), absl::ZeroDuration()).status().code(),
            absl::StatusCode::kNotFound);
  WriteConfig(
      "model_config_list { config { name: 'a' base_path: '/x' model_platform: 'pytorch' } }");
  EXPECT_EQ(ConfigFileWatcher::Start(&core, config_.string(), absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(core.Models().empty());
}

TEST_F(ConfigFileWatcherTest, ThePollingThreadPicksUpChanges) {
  WriteConfig(ConfigFor({"a"}));
  ServerCore core(Options());
  auto watcher = ConfigFileWatcher::Start(&core, config_.string(), absl::Milliseconds(10));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  WriteConfig(ConfigFor({"b"}));
  for (int i = 0; i < 1000 && Names(core) != std::vector<std::string>{"b"}; ++i)
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(Names(core), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(core.manager().WaitUntilAvailable("b", std::nullopt, absl::Seconds(10)).ok());
}

}  // namespace
}  // namespace servekit
