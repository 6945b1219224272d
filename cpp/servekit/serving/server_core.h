// ServerCore: the serving core as a whole — the configured models, a Manager
// that loads and serves their versions, a FileSystemSource that watches their
// base paths, and version labels.
//
// Configuration follows TF Serving's ModelServerConfig: ReloadConfig replaces
// the whole set, changing only what changed (models left alone keep serving
// without a reload); beyond TF Serving, AddModel and RemoveModel change one
// model. A label ("stable", "canary") may point only at an AVAILABLE version
// unless allow_labels_for_unavailable_versions is set. Requests select the
// latest available version, a version number, or a label.
//
// Thread-safe. Destruction stops polling and unloads every model.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "servekit/serving/fs_source.h"
#include "servekit/serving/manager.h"
#include "servekit/serving/model_config.h"

namespace servekit {

struct ServerCoreOptions {
  int num_load_threads = 2;
  int max_num_load_retries = 5;
  absl::Duration load_retry_interval = absl::Minutes(1);
  absl::Duration file_system_poll_wait = absl::Seconds(1);  // zero: read once per config change
  bool resource_preserving = false;
  bool allow_labels_for_unavailable_versions = false;
  // How long ReloadConfig/AddModel wait for new models' versions to finish
  // loading (or fail) before applying labels; TF Serving waits the same way.
  absl::Duration load_wait = absl::Minutes(5);
  SessionOptions session;
  LoadFunction load;  // default: SessionLoader(session)
  std::function<void(const VersionEvent&)> on_event;
};

// What a request asks for; version and label are mutually exclusive.
struct ModelSpec {
  std::string name;
  std::optional<int64_t> version;
  std::optional<std::string> label;

  static ModelSpec Latest(std::string name) {
    return {std::move(name), std::nullopt, std::nullopt};
  }
  static ModelSpec Version(std::string name, int64_t version) {
    return {std::move(name), version, std::nullopt};
  }
  static ModelSpec Label(std::string name, std::string label) {
    return {std::move(name), std::nullopt, std::move(label)};
  }
};

class ServerCore {
 public:
  explicit ServerCore(ServerCoreOptions options);
  ~ServerCore();
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  // Replaces the configured models. Everything is validated before anything
  // changes; labels are applied after new models' versions have loaded.
  Status ReloadConfig(std::vector<ModelConfig> models);
  // AlreadyExists if a model of that name is configured.
  Status AddModel(ModelConfig model);
  // NotFound if no such model is configured. Its versions unload once their
  // in-flight requests finish.
  Status RemoveModel(const std::string& name);
  // Beyond TF Serving: serve `version` even if the model's version policy would
  // not pick it (it must be on disk), retrying it if its load had failed for
  // good. Waits for the load to settle (load_wait) and returns its outcome.
  // The choice lasts until the model is removed or the version is unloaded
  // explicitly.
  Status LoadVersion(const std::string& model, int64_t version);
  // Stops serving `version` even if the policy picks it; its in-flight requests
  // finish first. With the availability-preserving policy it keeps serving
  // until another aspired version is available (unless none is left to
  // serve). FailedPrecondition while a label points at it.
  Status UnloadVersion(const std::string& model, int64_t version);
  // Points `label` of `model` at `version`.
  Status SetLabel(const std::string& model, const std::string& label, int64_t version);

  StatusOr<ModelHandle> GetHandle(const ModelSpec& spec) const;
  // The version `label` of `model` points at; NotFound if none.
  StatusOr<int64_t> LabelVersion(const std::string& model, const std::string& label) const;
  // Counters and latency histograms (loads, requests); transports record their
  // requests with RecordRequest.
  const Metrics& metrics() const { return metrics_; }
  // Requests for models that are not configured are counted under the model
  // name "" (clients cannot grow the metrics without bound).
  void RecordRequest(const std::string& model, int64_t version, const std::string& api,
                     absl::StatusCode code, absl::Duration latency) const;
  std::vector<ModelConfig> Models() const;
  // From now on config changes stop waiting for new models to load (they are
  // applied, their labels checked against what is available now): a server
  // shutting down must not sit out a slow load started by a reload.
  void StopWaiting() { stop_waiting_ = true; }
  const Manager& manager() const { return *manager_; }
  Status BasePathStatus(const std::string& model) const { return source_->BasePathStatus(model); }

 private:
  // With mu_ held: validates labels against current availability.
  Status CheckLabel(const std::string& model, const std::string& label, int64_t version) const;
  // NotFound unless `model` is configured.
  Status CheckConfigured(const std::string& model) const;
  // Applies `models` to the source, waits for new ones, sets labels.
  Status Apply(std::vector<ModelConfig> models, const std::vector<std::string>& added);

  const ServerCoreOptions options_;
  // Before manager_: the manager records into it until it is gone. Mutable:
  // recording is observation, internally synchronised.
  mutable Metrics metrics_;
  std::unique_ptr<Manager> manager_;
  std::unique_ptr<FileSystemSource> source_;
  std::atomic<bool> stop_waiting_{false};
  std::mutex config_mu_;   // one config change at a time (requests never take it)
  mutable std::mutex mu_;  // models_ and labels_
  std::vector<ModelConfig> models_;
  std::map<std::string, std::map<std::string, int64_t>> labels_;  // model -> label -> version
};

}  // namespace servekit
