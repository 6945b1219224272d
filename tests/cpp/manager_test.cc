#include "servekit/serving/manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <thread>

#include "serving_test_util.h"

namespace servekit {
namespace {

using S = VersionState;
using test::Answer;
using test::VersionedModel;

// Paths are "<model>/<version>"; each can be told to fail a number of times or
// to block until released.
class FakeLoader {
 public:
  LoadFunction Function() {
    return [this](const std::string& path,
                  const std::string&) -> StatusOr<std::shared_ptr<const LoadedModel>> {
      std::unique_lock<std::mutex> lock(mu_);
      ++loads_[path];
      cv_.wait(lock, [&] { return blocked_.count(path) == 0; });
      if (failures_[path] != 0) {
        if (failures_[path] > 0) --failures_[path];
        return absl::InvalidArgumentError(absl::StrCat("corrupt model at ", path));
      }
      lock.unlock();
      return VersionedModel(std::stoll(path.substr(path.find('/') + 1)));
    };
  }
  void Fail(const std::string& path, int times) {
    std::lock_guard<std::mutex> l(mu_);
    failures_[path] = times;
  }
  void Block(const std::string& path) {
    std::lock_guard<std::mutex> l(mu_);
    blocked_.insert(path);
  }
  void Release(const std::string& path) {
    std::lock_guard<std::mutex> l(mu_);
    blocked_.erase(path);
    cv_.notify_all();
  }
  int Loads(const std::string& path) {
    std::lock_guard<std::mutex> l(mu_);
    return loads_[path];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> failures_;  // -1: always
  std::map<std::string, int> loads_;
  std::set<std::string> blocked_;
};

std::vector<AspiredVersion> Versions(const std::string& model, std::vector<int64_t> versions) {
  std::vector<AspiredVersion> out;
  for (int64_t v : versions) out.push_back({v, absl::StrCat(model, "/", v), "onnx"});
  return out;
}

ManagerOptions Options(FakeLoader& loader, bool resource_preserving = false) {
  ManagerOptions options;
  options.load = loader.Function();
  options.max_num_load_retries = 2;
  options.load_retry_interval = absl::Milliseconds(1);
  options.resource_preserving = resource_preserving;
  return options;
}

std::map<int64_t, S> States(const Manager& manager, const std::string& model) {
  std::map<int64_t, S> out;
  auto status = manager.GetStatus(model);
  if (status.ok()) {
    for (const VersionStatus& v : *status) out[v.version] = v.state;
  }
  return out;
}

// Waits (bounded) for the model's versions to reach `expected`. Unloads end
// when the last reference goes, which may be on a load thread just after the
// call that triggered them returned.
bool EventuallyStates(const Manager& manager, const std::string& model,
                      const std::map<int64_t, S>& expected) {
  for (int i = 0; i < 2000; ++i) {
    if (States(manager, model) == expected) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

// The order of (version, state) transitions recorded for `model`.
std::vector<std::pair<int64_t, S>> Transitions(const Manager& manager, const std::string& model) {
  std::vector<std::pair<int64_t, S>> out;
  for (const VersionEvent& e : manager.RecentEvents()) {
    if (e.model == model && e.status.ok()) out.emplace_back(e.version, e.state);
  }
  return out;
}

const absl::Duration kWait = absl::Seconds(10);

TEST(ManagerTest, LoadsAndServesTheLatestVersion) {
  FakeLoader loader;
  Manager manager(Options(loader));
  manager.SetAspiredVersions("m", Versions("m", {1}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  auto handle = manager.GetHandle("m");
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(handle->version(), 1);
  EXPECT_EQ(Answer(*handle, 10), 11);
  EXPECT_EQ(Transitions(manager, "m"), (std::vector<std::pair<int64_t, S>>{
                                           {1, S::kStart}, {1, S::kLoading}, {1, S::kAvailable}}));
}

TEST(ManagerTest, ASwapServesTheNewVersionAndWaitsForRequestsOnTheOld) {
  FakeLoader loader;
  Manager manager(Options(loader));
  manager.SetAspiredVersions("m", Versions("m", {1}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  auto in_flight = manager.GetHandle("m");  // a request still running on version 1
  ASSERT_TRUE(in_flight.ok());

  manager.SetAspiredVersions("m", Versions("m", {2}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 2, kWait).ok());
  EXPECT_EQ((States(manager, "m")), (std::map<int64_t, S>{{1, S::kUnloading}, {2, S::kAvailable}}));
  EXPECT_EQ(manager.GetHandle("m")->version(), 2);
  EXPECT_EQ(Answer(*in_flight, 0), 1)
      << "the old version must keep working for requests holding it";

  in_flight = absl::InternalError("released");  // the request ends
  EXPECT_TRUE(EventuallyStates(manager, "m", {{2, S::kAvailable}}))
      << "version 1 never reached END";
  const auto transitions = Transitions(manager, "m");
  const auto at = [&](int64_t v, S s) {
    return std::find(transitions.begin(), transitions.end(), std::make_pair(v, s));
  };
  EXPECT_LT(at(2, S::kAvailable), at(1, S::kUnloading))
      << "availability-preserving: new version first";
  EXPECT_NE(at(1, S::kEnd), transitions.end());
}

TEST(ManagerTest, AFailingNewVersionLeavesTheOldOneServing) {
  FakeLoader loader;
  loader.Fail("m/2", -1);
  Manager manager(Options(loader));
  manager.SetAspiredVersions("m", Versions("m", {1}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  manager.SetAspiredVersions("m", Versions("m", {2}));
  const Status failed = manager.WaitUntilAvailable("m", 2, kWait);
  EXPECT_EQ(failed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(failed.message().find("corrupt model at m/2"), absl::string_view::npos) << failed;
  EXPECT_EQ(loader.Loads("m/2"), 3) << "one load and max_num_load_retries=2 retries";
  EXPECT_EQ(manager.GetHandle("m")->version(), 1);
  auto status = manager.GetStatus("m");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 2u);
  EXPECT_EQ((*status)[1].state, S::kError);
  EXPECT_EQ(VersionStateName((*status)[1].state), "END");
  EXPECT_FALSE((*status)[1].status.ok());
  const auto explicit_version = manager.GetHandle("m", 2);
  EXPECT_EQ(explicit_version.status().code(), absl::StatusCode::kUnavailable);
}

// A loader that throws (memory for a hostile file's claimed sizes, a bug)
// fails that version; the old one keeps serving and the process lives.
TEST(ManagerTest, ALoaderThatThrowsFailsThatVersionOnly) {
  FakeLoader loader;
  ManagerOptions options = Options(loader);
  LoadFunction fake = options.load;
  options.load = [fake](
                     const std::string& path,
                     const std::string& platform) -> StatusOr<std::shared_ptr<const LoadedModel>> {
    if (path == "m/2") throw std::bad_alloc();
    if (path == "m/3") throw std::runtime_error("a bug");
    return fake(path, platform);
  };
  Manager manager(options);
  manager.SetAspiredVersions("m", Versions("m", {1}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  manager.SetAspiredVersions("m", Versions("m", {2}));
  const Status out_of_memory = manager.WaitUntilAvailable("m", 2, kWait);
  EXPECT_EQ(out_of_memory.code(), absl::StatusCode::kResourceExhausted) << out_of_memory;
  manager.SetAspiredVersions("m", Versions("m", {3}));
  const Status bug = manager.WaitUntilAvailable("m", 3, kWait);
  EXPECT_EQ(bug.code(), absl::StatusCode::kInternal) << bug;
  EXPECT_NE(bug.message().find("a bug"), absl::string_view::npos) << bug;
  EXPECT_EQ(manager.GetHandle("m")->version(), 1);
}

TEST(ManagerTest, ALoadThatFailsThenSucceedsIsRetried) {
  FakeLoader loader;
  loader.Fail("m/1", 2);
  Manager manager(Options(loader));
  manager.SetAspiredVersions("m", Versions("m", {1}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  EXPECT_EQ(loader.Loads("m/1"), 3);
  int retries = 0;
  for (const VersionEvent& e : manager.RecentEvents()) {
    retries += !e.status.ok() && e.status.message().find("retrying") != absl::string_view::npos;
  }
  EXPECT_EQ(retries, 2);
}

TEST(ManagerTest, ResourcePreservingUnloadsBeforeLoading) {
  FakeLoader loader;
  Manager manager(Options(loader, /*resource_preserving=*/true));
  manager.SetAspiredVersions("m", Versions("m", {1}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  manager.SetAspiredVersions("m", Versions("m", {2}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 2, kWait).ok());
  const auto transitions = Transitions(manager, "m");
  const auto at = [&](int64_t v, S s) {
    return std::find(transitions.begin(), transitions.end(), std::make_pair(v, s));
  };
  EXPECT_LT(at(1, S::kEnd), at(2, S::kLoading));
}

TEST(ManagerTest, HandleErrorsFollowTfServing) {
  FakeLoader loader;
  loader.Block("m/1");
  Manager manager(Options(loader));
  auto unknown = manager.GetHandle("nope");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "Servable not found for request: Latest(nope)");
  manager.SetAspiredVersions("m", Versions("m", {1}));
  EXPECT_EQ(manager.GetHandle("m").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager.GetHandle("m", 1).status().code(), absl::StatusCode::kUnavailable);
  auto missing = manager.GetHandle("m", 7);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "Servable not found for request: Specific(m, 7)");
  loader.Release("m/1");
  EXPECT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  EXPECT_TRUE(manager.GetHandle("m", 1).ok());
}

TEST(ManagerTest, ASlowLoadDoesNotBlockOtherModels) {
  FakeLoader loader;
  loader.Block("slow/1");
  Manager manager(Options(loader));
  manager.SetAspiredVersions("slow", Versions("slow", {1}));
  manager.SetAspiredVersions("fast", Versions("fast", {3}));
  ASSERT_TRUE(manager.WaitUntilAvailable("fast", 3, kWait).ok());
  EXPECT_EQ(Answer(*manager.GetHandle("fast"), 1), 4);
  EXPECT_EQ(States(manager, "slow").at(1), S::kLoading);
  loader.Release("slow/1");
  EXPECT_TRUE(manager.WaitUntilAvailable("slow", 1, kWait).ok());
}

TEST(ManagerTest, RemovingAModelUnloadsItOnceRequestsFinish) {
  FakeLoader loader;
  Manager manager(Options(loader));
  manager.SetAspiredVersions("m", Versions("m", {1, 2}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 2, kWait).ok());
  auto in_flight = manager.GetHandle("m", 1);
  manager.SetAspiredVersions("m", {});
  EXPECT_EQ((States(manager, "m")), (std::map<int64_t, S>{{1, S::kUnloading}}));
  EXPECT_EQ(manager.GetHandle("m").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Answer(*in_flight, 1), 2);
  in_flight = absl::InternalError("released");
  EXPECT_EQ(manager.GetStatus("m").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(manager.ModelNames().empty());
}

TEST(ManagerTest, AVersionDroppedWhileLoadingNeverServes) {
  FakeLoader loader;
  loader.Block("m/1");
  Manager manager(Options(loader));
  manager.SetAspiredVersions("m", Versions("m", {1}));
  manager.SetAspiredVersions("m", {});
  loader.Release("m/1");
  for (int i = 0; i < 1000 && !manager.ModelNames().empty(); ++i)
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(manager.ModelNames().empty());
}

TEST(ManagerTest, HandlesOutliveTheManager) {
  FakeLoader loader;
  std::optional<StatusOr<ModelHandle>> handle;
  {
    Manager manager(Options(loader));
    manager.SetAspiredVersions("m", Versions("m", {5}));
    ASSERT_TRUE(manager.WaitUntilAvailable("m", 5, kWait).ok());
    handle = manager.GetHandle("m");
  }
  ASSERT_TRUE(handle->ok());
  EXPECT_EQ(Answer(**handle, 1), 6);
}

TEST(ManagerTest, TheCallbackSeesEveryTransition) {
  FakeLoader loader;
  std::mutex mu;
  std::vector<std::pair<int64_t, S>> seen;
  ManagerOptions options = Options(loader);
  options.on_event = [&](const VersionEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (e.status.ok()) seen.emplace_back(e.version, e.state);
  };
  Manager manager(std::move(options));
  manager.SetAspiredVersions("m", Versions("m", {1}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  // Callbacks run after the manager's lock is released: allow them to land.
  for (int i = 0; i < 2000; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (seen.size() >= 3) break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, S>>{
                      {1, S::kStart}, {1, S::kLoading}, {1, S::kAvailable}}));
}

// Eight threads predict continuously while 50 new versions are published and
// the old ones removed: no request fails once the first version serves, and
// every answer comes from the version whose handle served it.
TEST(ManagerTest, HotSwapUnderLoad) {
  FakeLoader loader;
  Manager manager(Options(loader));
  manager.SetAspiredVersions("m", Versions("m", {1}));
  ASSERT_TRUE(manager.WaitUntilAvailable("m", 1, kWait).ok());
  std::atomic<bool> done{false};
  std::atomic<int64_t> requests{0}, failures{0}, mismatches{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      while (!done.load()) {
        auto handle = manager.GetHandle("m");
        if (!handle.ok()) {
          ++failures;
          continue;
        }
        const float x = static_cast<float>(t);
        if (Answer(*handle, x) != x + static_cast<float>(handle->version())) ++mismatches;
        ++requests;
      }
    });
  }
  for (int64_t v = 2; v <= 51; ++v) {
    manager.SetAspiredVersions("m", Versions("m", {v}));
    ASSERT_TRUE(manager.WaitUntilAvailable("m", v, kWait).ok());
  }
  done = true;
  for (std::thread& c : clients) c.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_GT(requests.load(), 0);
  EXPECT_TRUE(EventuallyStates(manager, "m", {{51, S::kAvailable}}));
}

}  // namespace
}  // namespace servekit
