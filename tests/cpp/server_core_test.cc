#include "servekit/serving/server_core.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "serving_test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

// LoadVersionFromDisk, counting successful loads.
std::atomic<int> g_loads{0};
StatusOr<std::shared_ptr<const LoadedModel>> LoadFromDisk(const std::string& path,
                                                          const std::string& platform) {
  auto session = test::LoadVersionFromDisk(path, platform);
  if (session.ok()) ++g_loads;
  return session;
}

float Answer(const StatusOr<ModelHandle>& handle) {
  EXPECT_TRUE(handle.ok()) << handle.status();
  return handle.ok() ? test::Answer(*handle, 0) : -1;
}

class ServerCoreTest : public ::testing::Test {
 protected:
  void SetUp() override { g_loads = 0; }
  void Publish(const std::string& model, int64_t version) {
    test::PublishVersion(root_ / model, version);
  }
  ModelConfig Config(const std::string& name,
                     ModelVersionPolicy policy = ModelVersionPolicy::Latest()) {
    ModelConfig c;
    c.name = name;
    c.base_path = (root_ / name).string();
    c.version_policy = policy;
    return c;
  }
  static ServerCoreOptions Options(bool allow_unavailable_labels = false) {
    ServerCoreOptions o;
    o.load = LoadFromDisk;
    o.file_system_poll_wait = absl::ZeroDuration();
    o.load_retry_interval = absl::Milliseconds(5);
    o.max_num_load_retries = 1;
    o.allow_labels_for_unavailable_versions = allow_unavailable_labels;
    return o;
  }
  test::TempDir dir_;
  const fs::path root_ = dir_.path();
};

TEST_F(ServerCoreTest, ServesByLatestVersionAndLabel) {
  Publish("m", 1);
  Publish("m", 2);
  ServerCore core(Options());
  ModelConfig config = Config("m", ModelVersionPolicy::All());
  config.version_labels = {{"stable", 1}, {"canary", 2}};
  ASSERT_TRUE(core.ReloadConfig({config}).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("m"))), 2);
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Version("m", 1))), 1);
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Label("m", "stable"))), 1);
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Label("m", "canary"))), 2);
  auto unknown = core.GetHandle(ModelSpec::Label("m", "beta"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "Unrecognized servable version label: beta");
  EXPECT_EQ(core.GetHandle(ModelSpec{"m", 1, "stable"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(core.GetHandle(ModelSpec::Latest("nope")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServerCoreTest, LabelsMustPointAtAvailableVersionsUnlessAllowed) {
  Publish("m", 1);
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("m")}).ok());
  const Status missing = core.SetLabel("m", "canary", 7);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.message().find("not available"), absl::string_view::npos) << missing;
  EXPECT_EQ(core.SetLabel("m", "bad label", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(core.SetLabel("other", "stable", 1).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(core.SetLabel("m", "stable", 1).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Label("m", "stable"))), 1);

  ServerCore permissive(Options(/*allow_unavailable_labels=*/true));
  ASSERT_TRUE(permissive.ReloadConfig({Config("m")}).ok());
  EXPECT_TRUE(permissive.SetLabel("m", "next", 7).ok());
  EXPECT_EQ(permissive.GetHandle(ModelSpec::Label("m", "next")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ServerCoreTest, ReloadAddsRemovesAndChangesModelsLeavingOthersAlone) {
  Publish("a", 1);
  Publish("b", 1);
  Publish("b", 2);
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("a"), Config("b")}).ok());
  EXPECT_EQ(g_loads.load(), 2);  // a/1 and b/2
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("b"))), 2);

  // Change b's policy, drop a, add c; a's removal and c's addition must not reload b/2.
  Publish("c", 4);
  ASSERT_TRUE(core.ReloadConfig({Config("b", ModelVersionPolicy::All()), Config("c")}).ok());
  ASSERT_TRUE(core.manager().WaitUntilAvailable("b", 1, absl::Seconds(10)).ok());
  EXPECT_EQ(g_loads.load(), 4);  // + b/1 + c/4, and b/2 was not loaded again
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("c"))), 4);
  for (int i = 0; i < 2000 && core.manager().GetStatus("a").ok(); ++i)
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(core.GetHandle(ModelSpec::Latest("a")).status().code(), absl::StatusCode::kNotFound);
  std::vector<std::string> names;
  for (const ModelConfig& m : core.Models()) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"b", "c"}));
}

TEST_F(ServerCoreTest, AnInvalidConfigChangesNothing) {
  Publish("a", 1);
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("a")}).ok());
  ModelConfig broken = Config("b");
  broken.base_path = "";
  EXPECT_EQ(core.ReloadConfig({Config("c"), broken}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(core.ReloadConfig({Config("a"), Config("a")}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(core.Models().size(), 1u);
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("a"))), 1);
}

TEST_F(ServerCoreTest, AddAndRemoveOneModelAtRuntime) {
  Publish("a", 1);
  Publish("b", 3);
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("a")}).ok());
  ASSERT_TRUE(core.AddModel(Config("b")).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("b"))), 3);
  EXPECT_EQ(core.AddModel(Config("b")).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(core.RemoveModel("a").ok());
  EXPECT_EQ(core.RemoveModel("a").code(), absl::StatusCode::kNotFound);
  for (int i = 0; i < 2000 && core.manager().GetStatus("a").ok(); ++i)
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(core.GetHandle(ModelSpec::Latest("a")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("b"))), 3);
}

// Every model a client adds (over REST or gRPC management) leaves load and
// request series; removing the model must drop them, or add/remove cycles
// with new names grow the metrics without bound.
TEST_F(ServerCoreTest, RemovedModelsLeaveNoMetricsBehind) {
  Publish("keep", 1);
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("keep")}).ok());
  const auto series_count = [&] { return core.metrics().Counters().size(); };
  core.RecordRequest("keep", 1, "predict", absl::StatusCode::kOk, absl::Milliseconds(1));
  const size_t baseline = series_count();
  for (int i = 0; i < 50; ++i) {
    const std::string name = absl::StrCat("client_model_", i);
    Publish(name, 1);
    ASSERT_TRUE(core.AddModel(Config(name)).ok());
    core.RecordRequest(name, 1, "predict", absl::StatusCode::kOk, absl::Milliseconds(1));
    core.RecordRequest(name, 1, "predict", absl::StatusCode::kInvalidArgument,
                       absl::Milliseconds(1));
    ASSERT_GT(series_count(), baseline);
    ASSERT_TRUE(core.RemoveModel(name).ok());
  }
  EXPECT_EQ(series_count(), baseline);
  for (const auto& sample : core.metrics().Counters())
    EXPECT_NE(sample.labels.at("model").rfind("client_model_", 0), 0u);
  // The model that stayed still counts.
  core.RecordRequest("keep", 1, "predict", absl::StatusCode::kOk, absl::Milliseconds(1));
  uint64_t keep_ok = 0;
  for (const auto& sample : core.metrics().Counters()) {
    if (sample.name == "servekit_requests_total" && sample.labels.at("model") == "keep")
      keep_ok += sample.value;
  }
  EXPECT_EQ(keep_ok, 2u);
}

TEST_F(ServerCoreTest, ACorruptVersionNextToAGoodOneDoesNotDisturbIt) {
  Publish("m", 1);
  fs::create_directories(root_ / "m" / "2");  // no model.onnx: its load fails
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("m", ModelVersionPolicy::All())}).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("m"))), 1);
  auto status = core.manager().GetStatus("m");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 2u);
  EXPECT_EQ((*status)[1].state, VersionState::kError);
  EXPECT_NE((*status)[1].status.message().find("no model file"), absl::string_view::npos);
  // The load metrics saw one success for version 1 and every failed attempt for version 2.
  std::map<std::string, uint64_t> counters;
  for (const auto& c : core.metrics().Counters())
    counters[c.name + "/" + c.labels.at("version")] = c.value;
  EXPECT_EQ(counters["servekit_model_loads_total/1"], 1u);
  EXPECT_EQ(counters["servekit_model_load_failures_total/2"],
            2u);  // one load + max_num_load_retries=1
}

TEST_F(ServerCoreTest, LoadAndUnloadOneVersionExplicitly) {
  Publish("m", 1);
  Publish("m", 2);
  Publish("m", 3);
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("m")}).ok());  // latest: version 3 only
  EXPECT_EQ(core.GetHandle(ModelSpec::Version("m", 1)).status().code(),
            absl::StatusCode::kNotFound);

  // Load an old version beside the latest; the policy alone would not.
  ASSERT_TRUE(core.LoadVersion("m", 1).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Version("m", 1))), 1);
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("m"))), 3);
  ASSERT_TRUE(core.ReloadConfig({Config("m")}).ok());  // polls again
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Version("m", 1))), 1)
      << "a poll must keep the explicit version";

  // Unload the latest: version 1 serves what "latest" asks for.
  ASSERT_TRUE(core.UnloadVersion("m", 3).ok());
  for (int i = 0; i < 2000 && core.GetHandle(ModelSpec::Version("m", 3)).ok(); ++i)
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_FALSE(core.GetHandle(ModelSpec::Version("m", 3)).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("m"))), 1);

  // Errors.
  EXPECT_EQ(core.LoadVersion("m", 9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core.LoadVersion("other", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core.UnloadVersion("m", 2).code(), absl::StatusCode::kNotFound);  // never loaded
  ASSERT_TRUE(core.SetLabel("m", "stable", 1).ok());
  const Status labelled = core.UnloadVersion("m", 1);
  EXPECT_EQ(labelled.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(labelled.message().find("stable"), absl::string_view::npos) << labelled;

  // Loading it again undoes the unload.
  ASSERT_TRUE(core.LoadVersion("m", 3).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("m"))), 3);
}

TEST_F(ServerCoreTest, LoadVersionRetriesAVersionThatFailedForGood) {
  fs::create_directories(root_ / "m" / "1");  // no model.onnx yet
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("m")}).ok());
  auto status = core.manager().GetStatus("m");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ((*status)[0].state, VersionState::kError);
  EXPECT_EQ(core.LoadVersion("m", 1).code(),
            absl::StatusCode::kNotFound);  // still no model file: fails again
  Publish("m", 1);
  ASSERT_TRUE(core.LoadVersion("m", 1).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("m"))), 1);
}

TEST_F(ServerCoreTest, RemovingAModelForgetsItsExplicitVersions) {
  Publish("m", 1);
  Publish("m", 2);
  ServerCore core(Options());
  ASSERT_TRUE(core.ReloadConfig({Config("m")}).ok());
  ASSERT_TRUE(core.LoadVersion("m", 1).ok());
  ASSERT_TRUE(core.RemoveModel("m").ok());
  for (int i = 0; i < 2000 && core.manager().GetStatus("m").ok(); ++i)
    absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(core.AddModel(Config("m")).ok());
  EXPECT_EQ(Answer(core.GetHandle(ModelSpec::Latest("m"))), 2);
  EXPECT_EQ(core.GetHandle(ModelSpec::Version("m", 1)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ServerCoreTest, StopWaitingReleasesAConfigChangeWaitingForASlowLoad) {
  Publish("slow", 1);
  std::atomic<bool> release{false};
  ServerCoreOptions options = Options();
  options.load = [&](const std::string& path, const std::string& platform) {
    for (int i = 0; i < 1000 && !release; ++i)
      absl::SleepFor(absl::Milliseconds(10));  // up to 10 s
    return LoadFromDisk(path, platform);
  };
  ServerCore core(options);
  std::atomic<bool> returned{false};
  std::thread reload([&] {
    EXPECT_TRUE(core.ReloadConfig({Config("slow")}).ok());
    returned = true;
  });
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(returned) << "ReloadConfig waits for the new model's load";
  const absl::Time stopped = absl::Now();
  core.StopWaiting();
  for (int i = 0; i < 500 && !returned; ++i) absl::SleepFor(absl::Milliseconds(2));
  EXPECT_TRUE(returned);
  EXPECT_LT(absl::Now() - stopped, absl::Seconds(2));
  release = true;
  reload.join();
}

}  // namespace
}  // namespace servekit
