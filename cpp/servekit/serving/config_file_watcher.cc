#include "servekit/serving/config_file_watcher.h"

#include "servekit/util/read_file.h"

namespace servekit {

StatusOr<std::unique_ptr<ConfigFileWatcher>> ConfigFileWatcher::Start(ServerCore* core,
                                                                      std::string path,
                                                                      absl::Duration poll_wait) {
  std::unique_ptr<ConfigFileWatcher> watcher(
      new ConfigFileWatcher(core, std::move(path), poll_wait));
  RETURN_IF_ERROR(watcher->CheckNow());
  if (poll_wait > absl::ZeroDuration())
    watcher->poller_ = std::thread([w = watcher.get()] { w->PollLoop(); });
  return watcher;
}

ConfigFileWatcher::ConfigFileWatcher(ServerCore* core, std::string path, absl::Duration poll_wait)
    : core_(core), path_(std::move(path)), poll_wait_(poll_wait) {}

ConfigFileWatcher::~ConfigFileWatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

Status ConfigFileWatcher::CheckNow() {
  std::lock_guard<std::mutex> check(check_mu_);
  Status outcome = [&]() -> Status {
    StatusOr<std::string> text = ReadFileToString(path_);
    if (!text.ok()) return text.status();
    if (applied_once_ && *text == applied_text_)
      return applied_status_;  // unchanged: nothing to do
    StatusOr<std::vector<ModelConfig>> models = ParseModelServerConfig(*text);
    if (!models.ok()) {
      return absl::Status(models.status().code(),
                          absl::StrCat(path_, ": ", models.status().message()));
    }
    // Applied even when ReloadConfig reports a problem (a label on a version
    // that did not load): the rest of the config is in force, so the same text
    // is not applied again until it changes.
    applied_status_ = core_->ReloadConfig(*std::move(models));
    applied_text_ = *std::move(text);
    applied_once_ = true;
    return applied_status_;
  }();
  std::lock_guard<std::mutex> lock(mu_);
  last_status_ = outcome;
  return outcome;
}

Status ConfigFileWatcher::LastStatus() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_status_;
}

void ConfigFileWatcher::PollLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (wake_.wait_for(lock, absl::ToChronoNanoseconds(poll_wait_), [this] { return stopping_; }))
      break;
    lock.unlock();
    CheckNow().IgnoreError();  // kept in LastStatus
    lock.lock();
  }
}

}  // namespace servekit
