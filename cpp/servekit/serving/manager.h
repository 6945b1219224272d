// Manager: owns every loaded model version and moves each through its lifecycle
// (version_state.h), as the source's aspired versions and the aspired-version
// policy direct.
//
// - SetAspiredVersions (called by a source, or directly) says which versions of
//   a model should be served; the policy then picks loads and unloads one at a
//   time. Loads run on a pool of load threads, so a slow load never blocks
//   requests or other models; a failed load is retried (max_num_load_retries,
//   load_retry_interval) and then reported as an error while the version that
//   was serving keeps serving.
// - GetHandle gives requests a ref-counted handle; an unloading version stays
//   UNLOADING until its last handle is released, then reaches END and its
//   memory is freed. No request ever sees a half-loaded or freed model.
// - Every transition is recorded in an event log and passed to an optional
//   callback. Callbacks run without the manager's lock held, on whichever
//   thread made the change, so they may trail the state and interleave across
//   threads; the event log's order is authoritative.
//
// Thread-safe. The destructor unloads everything and waits for the load
// threads; handles still held after that keep their LoadedModel alive safely.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "servekit/formats/loaded_model.h"
#include "servekit/serving/aspired_version_policy.h"
#include "servekit/serving/metrics.h"
#include "servekit/serving/model_handle.h"
#include "servekit/serving/version_state.h"
#include "servekit/util/status.h"

namespace servekit {

// Loads the model version stored at `path` (platform "onnx", "tensorflow", or
// "" to detect). Called on a load thread.
using LoadFunction = std::function<StatusOr<std::shared_ptr<const LoadedModel>>(
    const std::string& path, const std::string& platform)>;

struct VersionEvent {
  std::string model;
  int64_t version = 0;
  VersionState state = VersionState::kStart;
  Status status;  // the load error for kError (and for retries)
  absl::Time time;
};

struct VersionStatus {
  int64_t version = 0;
  VersionState state = VersionState::kStart;
  Status status;
};

struct AspiredVersion {
  int64_t version = 0;
  std::string path;
  std::string platform;  // "" to detect
};

struct ManagerOptions {
  int num_load_threads = 2;
  int max_num_load_retries = 5;
  absl::Duration load_retry_interval = absl::Minutes(1);
  // Availability-preserving (new version before the old one unloads) unless set.
  bool resource_preserving = false;
  LoadFunction load;  // required
  std::function<void(const VersionEvent&)> on_event;
  size_t event_log_size = 1000;
  Metrics* metrics = nullptr;  // load latency and failures, when set; must outlive the manager
};

class Manager {
 public:
  explicit Manager(ManagerOptions options);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // These versions of `model` should be served; any other version it has is
  // no longer aspired. An empty list removes the model once its versions end.
  void SetAspiredVersions(const std::string& model, std::vector<AspiredVersion> versions);

  // Starts a version whose load failed for good over again (it must still be
  // aspired), for example once its files have been fixed. A no-op for a
  // version in any other state; NotFound for an unknown model or version.
  Status RetryFailedLoad(const std::string& model, int64_t version);

  // A handle to `version`, or to the highest AVAILABLE version when absent.
  // NotFound for an unknown model or version; Unavailable for a version (or a
  // model) that exists but is not AVAILABLE yet.
  StatusOr<ModelHandle> GetHandle(const std::string& model,
                                  std::optional<int64_t> version = std::nullopt) const;

  // Every version the manager knows of `model`, ascending; NotFound if none.
  StatusOr<std::vector<VersionStatus>> GetStatus(const std::string& model) const;
  std::vector<std::string> ModelNames() const;

  // Waits until `version` (or any version when absent) of `model` is AVAILABLE.
  // DeadlineExceeded on timeout; the version's error if its load failed for good.
  Status WaitUntilAvailable(const std::string& model, std::optional<int64_t> version,
                            absl::Duration timeout) const;

  // The most recent transitions, oldest first.
  std::vector<VersionEvent> RecentEvents() const;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace servekit
