#include "servekit/serving/manager.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <new>

#define EIGEN_USE_THREADS
#include <unsupported/Eigen/CXX11/ThreadPool>

#include "servekit/serving/availability_preserving_policy.h"
#include "servekit/serving/resource_preserving_policy.h"

namespace servekit {
namespace {

struct Entry {
  VersionState state = VersionState::kStart;
  bool aspired = true;
  std::string path;
  std::string platform;
  Status status;
  std::shared_ptr<const LoadedModel> loaded;  // set while AVAILABLE
};

using LoadedModels = std::vector<std::shared_ptr<const LoadedModel>>;

}  // namespace

struct Manager::Core : std::enable_shared_from_this<Core> {
  explicit Core(ManagerOptions opts) : options(std::move(opts)) {
    if (options.resource_preserving) {
      policy = std::make_unique<ResourcePreservingPolicy>();
    } else {
      policy = std::make_unique<AvailabilityPreservingPolicy>();
    }
    load_pool = std::make_unique<Eigen::ThreadPool>(std::max(1, options.num_load_threads));
  }

  ManagerOptions options;
  std::unique_ptr<AspiredVersionPolicy> policy;
  std::unique_ptr<Eigen::ThreadPool> load_pool;

  mutable std::mutex mu;
  mutable std::condition_variable changed;  // any transition; shutdown
  std::map<std::string, std::map<int64_t, Entry>> models;
  std::deque<VersionEvent> events;
  bool shutting_down = false;

  // --- everything below runs with `mu` held, except where noted -------------------

  // Records a transition; `pending` collects the events to hand to the callback
  // once the lock is released.
  void Transition(const std::string& model, int64_t version, Entry& entry, VersionState state,
                  Status status, std::vector<VersionEvent>& pending) {
    entry.state = state;
    entry.status = status;
    VersionEvent event{model, version, state, std::move(status), absl::Now()};
    events.push_back(event);
    while (events.size() > options.event_log_size) events.pop_front();
    if (options.on_event) pending.push_back(std::move(event));
    changed.notify_all();
  }

  // Applies the policy's actions until it has none; forgets versions that are
  // over and no longer wanted. LoadedModels being unloaded go to `release`, to be
  // dropped after the lock is released (their deleter takes the lock).
  void Reconcile(const std::string& model, std::vector<VersionEvent>& pending,
                 LoadedModels& release) {
    auto found = models.find(model);
    if (found == models.end()) return;
    std::map<int64_t, Entry>& versions = found->second;
    while (true) {
      std::vector<VersionSnapshot> snapshot;
      for (const auto& [version, entry] : versions)
        snapshot.push_back({version, entry.state, entry.aspired});
      const std::optional<VersionAction> action = policy->NextAction(snapshot);
      if (!action) break;
      Entry& entry = versions.at(action->version);
      if (action->kind == VersionAction::Kind::kLoad) {
        Transition(model, action->version, entry, VersionState::kLoading, absl::OkStatus(),
                   pending);
        ScheduleLoad(model, action->version, entry.path, entry.platform);
      } else {
        Transition(model, action->version, entry, VersionState::kUnloading, absl::OkStatus(),
                   pending);
        release.push_back(std::move(entry.loaded));
      }
    }
    for (auto it = versions.begin(); it != versions.end();) {
      const bool over =
          it->second.state == VersionState::kEnd || it->second.state == VersionState::kError;
      it = over && !it->second.aspired ? versions.erase(it) : std::next(it);
    }
    if (versions.empty()) models.erase(found);
  }

  void ScheduleLoad(const std::string& model, int64_t version, const std::string& path,
                    const std::string& platform) {
    std::weak_ptr<Core> weak = weak_from_this();
    load_pool->Schedule([weak, model, version, path, platform] {
      if (auto core = weak.lock()) core->RunLoad(model, version, path, platform);
    });
  }

  Entry* Find(const std::string& model, int64_t version) {
    auto m = models.find(model);
    if (m == models.end()) return nullptr;
    auto v = m->second.find(version);
    return v == m->second.end() ? nullptr : &v->second;
  }

  // --- without `mu` -------------------------------------------------------------

  bool StillWanted(const std::string& model, int64_t version) {
    std::lock_guard<std::mutex> lock(mu);
    const Entry* entry = Find(model, version);
    return !shutting_down && entry != nullptr && entry->aspired;
  }

  void Dispatch(const std::vector<VersionEvent>& pending) {
    for (const VersionEvent& event : pending) options.on_event(event);
  }

  // A load that throws (memory for a hostile file's claims, a bug) fails
  // that version, never the load thread or the process.
  StatusOr<std::shared_ptr<const LoadedModel>> LoadGuarded(const std::string& path,
                                                           const std::string& platform) {
    try {
      return options.load(path, platform);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat("out of memory loading ", path));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("loading ", path, " failed: ", e.what()));
    }
  }

  // On a load thread: loads with retries, then makes the version AVAILABLE or
  // records the error.
  void RunLoad(const std::string& model, int64_t version, const std::string& path,
               const std::string& platform) {
    for (int attempt = 0;; ++attempt) {
      if (!StillWanted(model, version)) {
        // Shut down or dropped while queued or between retries: end without loading.
        std::vector<VersionEvent> pending;
        LoadedModels release;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (Entry* entry = Find(model, version);
              entry != nullptr && entry->state == VersionState::kLoading) {
            Transition(model, version, *entry, VersionState::kEnd, absl::OkStatus(), pending);
            Reconcile(model, pending, release);
          }
        }
        release.clear();
        if (options.on_event) Dispatch(pending);
        return;
      }
      const absl::Time started = absl::Now();
      StatusOr<std::shared_ptr<const LoadedModel>> loaded = LoadGuarded(path, platform);
      if (options.metrics)
        options.metrics->RecordLoad(model, version, absl::Now() - started, loaded.status());
      std::vector<VersionEvent> pending;
      LoadedModels release;
      {
        std::unique_lock<std::mutex> lock(mu);
        Entry* entry = Find(model, version);
        if (entry == nullptr || entry->state != VersionState::kLoading)
          return;  // cannot happen; defensive
        if (shutting_down || !entry->aspired) {
          // Nobody wants it any more: end without serving it.
          Transition(model, version, *entry, VersionState::kEnd, absl::OkStatus(), pending);
        } else if (loaded.ok()) {
          entry->loaded = Track(model, version, *std::move(loaded));
          Transition(model, version, *entry, VersionState::kAvailable, absl::OkStatus(), pending);
        } else if (attempt < options.max_num_load_retries) {
          entry->status = loaded.status();
          VersionEvent retry{
              model, version, VersionState::kLoading,
              absl::Status(loaded.status().code(),
                           absl::StrCat("load attempt ", attempt + 1,
                                        " failed, retrying: ", loaded.status().message())),
              absl::Now()};
          events.push_back(retry);
          if (options.on_event) pending.push_back(retry);
          // Wait, but wake up early for a shutdown or when the version is dropped.
          changed.wait_for(lock, absl::ToChronoNanoseconds(options.load_retry_interval), [&] {
            Entry* e = Find(model, version);
            return shutting_down || e == nullptr || !e->aspired;
          });
          lock.unlock();
          if (options.on_event) Dispatch(pending);
          continue;
        } else {
          Transition(model, version, *entry, VersionState::kError, loaded.status(), pending);
        }
        Reconcile(model, pending, release);
      }
      release.clear();
      if (options.on_event) Dispatch(pending);
      return;
    }
  }

  // The loaded model as handed out: when its last holder lets go, it is
  // destroyed and the version reaches END.
  std::shared_ptr<const LoadedModel> Track(const std::string& model, int64_t version,
                                           std::shared_ptr<const LoadedModel> loaded) {
    const LoadedModel* raw = loaded.get();
    std::weak_ptr<Core> weak = weak_from_this();
    return std::shared_ptr<const LoadedModel>(
        raw, [weak, model, version, loaded](const LoadedModel*) mutable {
          loaded.reset();  // frees the model
          if (auto core = weak.lock()) core->OnReleased(model, version);
        });
  }

  void OnReleased(const std::string& model, int64_t version) {
    std::vector<VersionEvent> pending;
    LoadedModels release;
    {
      std::lock_guard<std::mutex> lock(mu);
      Entry* entry = Find(model, version);
      if (entry == nullptr || entry->state != VersionState::kUnloading) return;
      Transition(model, version, *entry, VersionState::kEnd, absl::OkStatus(), pending);
      if (entry->aspired && !shutting_down) {
        // Wanted again while it was unloading: start over.
        Transition(model, version, *entry, VersionState::kStart, absl::OkStatus(), pending);
      }
      Reconcile(model, pending, release);
    }
    release.clear();
    if (options.on_event) Dispatch(pending);
  }
};

Manager::Manager(ManagerOptions options) : core_(std::make_shared<Core>(std::move(options))) {}

Manager::~Manager() {
  std::vector<std::string> names = ModelNames();
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->shutting_down = true;
    core_->changed.notify_all();
  }
  for (const std::string& name : names) SetAspiredVersions(name, {});
  // Waits for running loads; queued ones see the shutdown and end at once.
  core_->load_pool.reset();
}

void Manager::SetAspiredVersions(const std::string& model, std::vector<AspiredVersion> versions) {
  std::vector<VersionEvent> pending;
  LoadedModels release;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    std::map<int64_t, Entry>& entries = core_->models[model];
    for (auto& [version, entry] : entries) entry.aspired = false;
    for (AspiredVersion& v : versions) {
      if (core_->shutting_down) break;
      auto [it, inserted] = entries.try_emplace(v.version);
      Entry& entry = it->second;
      entry.aspired = true;
      if (inserted) {
        entry.path = std::move(v.path);
        entry.platform = std::move(v.platform);
        core_->Transition(model, v.version, entry, VersionState::kStart, absl::OkStatus(), pending);
      }
    }
    core_->Reconcile(model, pending, release);
  }
  release.clear();
  if (core_->options.on_event) core_->Dispatch(pending);
}

Status Manager::RetryFailedLoad(const std::string& model, int64_t version) {
  std::vector<VersionEvent> pending;
  LoadedModels release;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    Entry* entry = core_->Find(model, version);
    if (entry == nullptr) {
      return absl::NotFoundError(absl::StrCat("model '", model, "' has no version ", version));
    }
    if (entry->state != VersionState::kError || !entry->aspired || core_->shutting_down)
      return absl::OkStatus();
    core_->Transition(model, version, *entry, VersionState::kStart, absl::OkStatus(), pending);
    core_->Reconcile(model, pending, release);
  }
  release.clear();
  if (core_->options.on_event) core_->Dispatch(pending);
  return absl::OkStatus();
}

StatusOr<ModelHandle> Manager::GetHandle(const std::string& model,
                                         std::optional<int64_t> version) const {
  std::lock_guard<std::mutex> lock(core_->mu);
  // Only errors name the request (TF Serving's wording); the hot path builds no strings.
  const auto request = [&] {
    return version ? absl::StrCat("Specific(", model, ", ", *version, ")")
                   : absl::StrCat("Latest(", model, ")");
  };
  auto found = core_->models.find(model);
  if (found == core_->models.end()) {
    return absl::NotFoundError(absl::StrCat("Servable not found for request: ", request()));
  }
  const std::map<int64_t, Entry>& entries = found->second;
  if (version) {
    auto it = entries.find(*version);
    if (it == entries.end())
      return absl::NotFoundError(absl::StrCat("Servable not found for request: ", request()));
    if (it->second.state != VersionState::kAvailable) {
      std::string why =
          it->second.status.ok() ? "" : absl::StrCat(": ", it->second.status.message());
      return absl::UnavailableError(absl::StrCat("Servable ", request(),
                                                 " is not available (state ",
                                                 VersionStateName(it->second.state), why, ")"));
    }
    return ModelHandle(model, *version, it->second.loaded);
  }
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->second.state == VersionState::kAvailable)
      return ModelHandle(model, it->first, it->second.loaded);
  }
  return absl::UnavailableError(
      absl::StrCat("Servable ", request(), " has no available version yet"));
}

StatusOr<std::vector<VersionStatus>> Manager::GetStatus(const std::string& model) const {
  std::lock_guard<std::mutex> lock(core_->mu);
  auto found = core_->models.find(model);
  if (found == core_->models.end()) {
    return absl::NotFoundError(absl::StrCat("Could not find any versions of model ", model));
  }
  std::vector<VersionStatus> out;
  for (const auto& [version, entry] : found->second)
    out.push_back({version, entry.state, entry.status});
  return out;
}

std::vector<std::string> Manager::ModelNames() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  std::vector<std::string> names;
  for (const auto& [name, versions] : core_->models) names.push_back(name);
  return names;
}

Status Manager::WaitUntilAvailable(const std::string& model, std::optional<int64_t> version,
                                   absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(core_->mu);
  Status outcome = absl::DeadlineExceededError(absl::StrCat(
      "model '", model, "'", version ? absl::StrCat(" version ", *version) : std::string(),
      " did not become available within ", absl::FormatDuration(timeout)));
  core_->changed.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] {
    auto found = core_->models.find(model);
    if (found == core_->models.end()) return false;
    for (const auto& [v, entry] : found->second) {
      if (version && v != *version) continue;
      if (entry.state == VersionState::kAvailable) {
        outcome = absl::OkStatus();
        return true;
      }
      if (version && entry.state == VersionState::kError) {
        outcome = entry.status;
        return true;
      }
    }
    return false;
  });
  return outcome;
}

std::vector<VersionEvent> Manager::RecentEvents() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return {core_->events.begin(), core_->events.end()};
}

}  // namespace servekit
