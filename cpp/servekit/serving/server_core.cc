#include "servekit/serving/server_core.h"

#include <set>

#include "absl/strings/ascii.h"
#include "servekit/serving/session_loader.h"
#include "servekit/serving/version_directory.h"

namespace servekit {
namespace {

ManagerOptions ManagerOptionsFrom(const ServerCoreOptions& options, Metrics* metrics) {
  ManagerOptions m;
  m.metrics = metrics;
  m.num_load_threads = options.num_load_threads;
  m.max_num_load_retries = options.max_num_load_retries;
  m.load_retry_interval = options.load_retry_interval;
  m.resource_preserving = options.resource_preserving;
  m.load = options.load ? options.load : SessionLoader(options.session);
  m.on_event = options.on_event;
  return m;
}

// True when every version the manager knows of `model` has settled: AVAILABLE,
// failed for good, or gone.
bool Settled(const Manager& manager, const std::string& model) {
  auto status = manager.GetStatus(model);
  if (!status.ok()) return true;
  for (const VersionStatus& v : *status) {
    if (v.state == VersionState::kStart || v.state == VersionState::kLoading) return false;
  }
  return true;
}

}  // namespace

ServerCore::ServerCore(ServerCoreOptions options)
    : options_(std::move(options)),
      manager_(std::make_unique<Manager>(ManagerOptionsFrom(options_, &metrics_))),
      source_(std::make_unique<FileSystemSource>(manager_.get(), options_.file_system_poll_wait)) {}

ServerCore::~ServerCore() {
  source_.reset();   // stop polling first
  manager_.reset();  // then unload
}

Status ServerCore::CheckLabel(const std::string& model, const std::string& label,
                              int64_t version) const {
  if (label.empty() || !std::all_of(label.begin(), label.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat("version label '", label, "' must match [A-Za-z0-9_]+"));
  }
  if (options_.allow_labels_for_unavailable_versions) return absl::OkStatus();
  auto handle = manager_->GetHandle(model, version);
  if (!handle.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("label '", label, "' of model '", model, "' cannot point at version ", version,
                     ", which is not available (", handle.status().message(), ")"));
  }
  return absl::OkStatus();
}

Status ServerCore::Apply(std::vector<ModelConfig> models, const std::vector<std::string>& added) {
  source_->SetModels(models);
  // New models' labels may name versions that are only now loading.
  const absl::Time deadline = absl::Now() + options_.load_wait;
  for (const std::string& name : added) {
    while (!Settled(*manager_, name) && absl::Now() < deadline && !stop_waiting_) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const ModelConfig& old : models_) {
    const bool kept = std::any_of(models.begin(), models.end(),
                                  [&](const ModelConfig& m) { return m.name == old.name; });
    if (!kept) metrics_.ForgetModel(old.name);
  }
  models_ = std::move(models);
  std::map<std::string, std::map<std::string, int64_t>> labels;
  Status result;
  for (const ModelConfig& model : models_) {
    for (const auto& [label, version] : model.version_labels) {
      Status ok = CheckLabel(model.name, label, version);
      if (ok.ok()) {
        labels[model.name][label] = version;
      } else if (result.ok()) {
        result = ok;  // the first problem is reported; other labels still apply
      }
    }
  }
  labels_ = std::move(labels);
  return result;
}

Status ServerCore::ReloadConfig(std::vector<ModelConfig> models) {
  std::lock_guard<std::mutex> change(config_mu_);
  std::set<std::string> names;
  for (const ModelConfig& model : models) {
    RETURN_IF_ERROR(ValidateModelConfig(model));
    if (!names.insert(model.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", model.name, "' is configured twice"));
    }
  }
  std::vector<std::string> added;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const ModelConfig& model : models) {
      const bool known = std::any_of(models_.begin(), models_.end(),
                                     [&](const ModelConfig& m) { return m.name == model.name; });
      if (!known) added.push_back(model.name);
    }
  }
  return Apply(std::move(models), added);
}

Status ServerCore::AddModel(ModelConfig model) {
  std::lock_guard<std::mutex> change(config_mu_);
  RETURN_IF_ERROR(ValidateModelConfig(model));
  std::vector<ModelConfig> models = Models();
  for (const ModelConfig& m : models) {
    if (m.name == model.name) {
      return absl::AlreadyExistsError(
          absl::StrCat("model '", model.name, "' is already configured"));
    }
  }
  const std::string name = model.name;
  models.push_back(std::move(model));
  return Apply(std::move(models), {name});
}

Status ServerCore::RemoveModel(const std::string& name) {
  std::lock_guard<std::mutex> change(config_mu_);
  std::vector<ModelConfig> models = Models();
  auto it = std::find_if(models.begin(), models.end(),
                         [&](const ModelConfig& m) { return m.name == name; });
  if (it == models.end())
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not configured"));
  models.erase(it);
  return Apply(std::move(models), {});
}

Status ServerCore::CheckConfigured(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  const bool known = std::any_of(models_.begin(), models_.end(),
                                 [&](const ModelConfig& m) { return m.name == model; });
  if (!known) return absl::NotFoundError(absl::StrCat("model '", model, "' is not configured"));
  return absl::OkStatus();
}

Status ServerCore::LoadVersion(const std::string& model, int64_t version) {
  {
    std::lock_guard<std::mutex> change(config_mu_);
    RETURN_IF_ERROR(CheckConfigured(model));
    std::string base_path;
    for (const ModelConfig& m : Models()) {
      if (m.name == model) base_path = m.base_path;
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> on_disk, ScanVersions(base_path));
    if (std::find(on_disk.begin(), on_disk.end(), version) == on_disk.end()) {
      return absl::NotFoundError(absl::StrCat("model '", model, "' has no version directory ",
                                              VersionPath(base_path, version)));
    }
    VersionOverrides overrides = source_->Overrides(model);
    overrides.loaded.insert(version);
    overrides.unloaded.erase(version);
    RETURN_IF_ERROR(source_->SetOverrides(model, std::move(overrides)));
    RETURN_IF_ERROR(manager_->RetryFailedLoad(model, version));
  }
  // Waits in short steps so that a server shutting down is not held up.
  const absl::Time deadline = absl::Now() + options_.load_wait;
  while (true) {
    const absl::Duration step = std::min(absl::Milliseconds(50), deadline - absl::Now());
    Status outcome =
        manager_->WaitUntilAvailable(model, version, std::max(step, absl::ZeroDuration()));
    if (outcome.code() != absl::StatusCode::kDeadlineExceeded) return outcome;
    if (stop_waiting_) return absl::UnavailableError("the server is shutting down");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("version ", version, " of model '", model,
                                                      "' did not become available within ",
                                                      absl::FormatDuration(options_.load_wait)));
    }
  }
}

Status ServerCore::UnloadVersion(const std::string& model, int64_t version) {
  std::lock_guard<std::mutex> change(config_mu_);
  RETURN_IF_ERROR(CheckConfigured(model));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto labels = labels_.find(model); labels != labels_.end()) {
      for (const auto& [label, labelled] : labels->second) {
        if (labelled == version) {
          return absl::FailedPreconditionError(absl::StrCat("version ", version, " of model '",
                                                            model, "' is labelled '", label,
                                                            "'; point the label elsewhere first"));
        }
      }
    }
  }
  VersionOverrides overrides = source_->Overrides(model);
  const bool known = [&] {
    auto status = manager_->GetStatus(model);
    return status.ok() && std::any_of(status->begin(), status->end(),
                                      [&](const VersionStatus& v) { return v.version == version; });
  }();
  if (!known && overrides.unloaded.count(version) == 0) {
    return absl::NotFoundError(
        absl::StrCat("model '", model, "' has no version ", version, " loaded"));
  }
  overrides.unloaded.insert(version);
  overrides.loaded.erase(version);
  return source_->SetOverrides(model, std::move(overrides));
}

Status ServerCore::SetLabel(const std::string& model, const std::string& label, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto config = std::find_if(models_.begin(), models_.end(),
                             [&](const ModelConfig& m) { return m.name == model; });
  if (config == models_.end())
    return absl::NotFoundError(absl::StrCat("model '", model, "' is not configured"));
  RETURN_IF_ERROR(CheckLabel(model, label, version));
  labels_[model][label] = version;
  config->version_labels[label] = version;  // a later reload of the same config keeps it
  return absl::OkStatus();
}

StatusOr<ModelHandle> ServerCore::GetHandle(const ModelSpec& spec) const {
  if (spec.version && spec.label) {
    return absl::InvalidArgumentError("a request may name a version or a label, not both");
  }
  std::optional<int64_t> version = spec.version;
  if (spec.label) {
    ASSIGN_OR_RETURN(version, LabelVersion(spec.name, *spec.label));
  }
  return manager_->GetHandle(spec.name, version);
}

StatusOr<int64_t> ServerCore::LabelVersion(const std::string& model,
                                           const std::string& label) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto labels = labels_.find(model);
  if (labels == labels_.end() || labels->second.count(label) == 0) {
    return absl::NotFoundError(absl::StrCat("Unrecognized servable version label: ", label));
  }
  return labels->second.at(label);
}

void ServerCore::RecordRequest(const std::string& model, int64_t version, const std::string& api,
                               absl::StatusCode code, absl::Duration latency) const {
  if (version == 0 && !CheckConfigured(model).ok()) {
    metrics_.RecordRequest("", version, api, code, latency);
    return;
  }
  metrics_.RecordRequest(model, version, api, code, latency);
}

std::vector<ModelConfig> ServerCore::Models() const {
  std::lock_guard<std::mutex> lock(mu_);
  return models_;
}

}  // namespace servekit
