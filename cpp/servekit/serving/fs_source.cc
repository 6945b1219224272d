#include "servekit/serving/fs_source.h"

#include <algorithm>
#include <set>

#include "servekit/serving/version_directory.h"

namespace servekit {

FileSystemSource::FileSystemSource(Manager* manager, absl::Duration poll_wait)
    : manager_(manager), poll_wait_(poll_wait) {
  if (poll_wait_ > absl::ZeroDuration()) poller_ = std::thread([this] { PollLoop(); });
}

FileSystemSource::~FileSystemSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void FileSystemSource::SetModels(std::vector<ModelConfig> models) {
  std::set<std::string> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const ModelConfig& old : models_) dropped.insert(old.name);
    for (const ModelConfig& model : models) dropped.erase(model.name);
    models_ = std::move(models);
    for (const std::string& name : dropped) {
      scan_status_.erase(name);
      overrides_.erase(name);
    }
  }
  std::lock_guard<std::mutex> pass(poll_mu_);
  for (const std::string& name : dropped) manager_->SetAspiredVersions(name, {});
  std::vector<ModelConfig> current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = models_;
  }
  for (const ModelConfig& model : current) PollModel(model);
}

void FileSystemSource::PollNow() {
  std::lock_guard<std::mutex> pass(poll_mu_);
  std::vector<ModelConfig> current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = models_;
  }
  for (const ModelConfig& model : current) PollModel(model);
}

Status FileSystemSource::SetOverrides(const std::string& model, VersionOverrides overrides) {
  std::lock_guard<std::mutex> pass(poll_mu_);
  ModelConfig config;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(models_.begin(), models_.end(),
                           [&](const ModelConfig& m) { return m.name == model; });
    if (it == models_.end())
      return absl::NotFoundError(absl::StrCat("model '", model, "' is not watched"));
    config = *it;
    overrides_[model] = std::move(overrides);
  }
  PollModel(config);
  return absl::OkStatus();
}

VersionOverrides FileSystemSource::Overrides(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = overrides_.find(model);
  return it == overrides_.end() ? VersionOverrides{} : it->second;
}

Status FileSystemSource::BasePathStatus(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = scan_status_.find(model);
  if (it == scan_status_.end())
    return absl::NotFoundError(absl::StrCat("model '", model, "' is not watched"));
  return it->second;
}

void FileSystemSource::PollModel(const ModelConfig& model) {
  StatusOr<std::vector<int64_t>> on_disk = ScanVersions(model.base_path);
  VersionOverrides overrides;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A model removed by a concurrent SetModels is not resurrected.
    const bool watched = std::any_of(models_.begin(), models_.end(),
                                     [&](const ModelConfig& m) { return m.name == model.name; });
    if (!watched) return;
    scan_status_[model.name] = on_disk.status();
    if (auto it = overrides_.find(model.name); it != overrides_.end()) overrides = it->second;
  }
  if (!on_disk.ok()) return;  // reported; what serves keeps serving
  std::vector<AspiredVersion> aspired;
  const std::vector<int64_t> selected = SelectAspiredVersions(model.version_policy, *on_disk);
  for (int64_t version : ApplyVersionOverrides(selected, *on_disk, overrides)) {
    aspired.push_back({version, VersionPath(model.base_path, version), model.platform});
  }
  manager_->SetAspiredVersions(model.name, std::move(aspired));
}

void FileSystemSource::PollLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (wake_.wait_for(lock, absl::ToChronoNanoseconds(poll_wait_), [this] { return stopping_; }))
      break;
    lock.unlock();
    PollNow();
    lock.lock();
  }
}

}  // namespace servekit
