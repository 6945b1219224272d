#include "servekit/serving/metrics.h"

#include <cmath>

namespace servekit {

double LatencyHistogram::UpperBoundSeconds(int bucket) { return 10e-6 * std::ldexp(1.0, bucket); }

void LatencyHistogram::Observe(absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  int bucket = 0;
  while (bucket < kBuckets && seconds > UpperBoundSeconds(bucket)) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(
      static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Nanoseconds(latency))),
      std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot s;
  uint64_t running = 0;
  for (int b = 0; b <= kBuckets; ++b) {
    running += buckets_[b].load(std::memory_order_relaxed);
    s.cumulative[b] = running;
  }
  s.count = running;  // consistent with the buckets even while others record
  s.sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) * 1e-9;
  return s;
}

std::shared_ptr<Metrics::Series> Metrics::Find(std::map<Labels, std::shared_ptr<Series>>& family,
                                               const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Series>& series = family[labels];
  if (!series) series = std::make_shared<Series>();
  return series;
}

void Metrics::RecordLoad(const std::string& model, int64_t version, absl::Duration latency,
                         const absl::Status& status) {
  const Labels labels{{"model", model}, {"version", std::to_string(version)}};
  if (status.ok()) {
    const std::shared_ptr<Series> s = Find(loads_, labels);
    s->count.fetch_add(1, std::memory_order_relaxed);
    s->latency.Observe(latency);
  } else {
    Find(load_failures_, labels)->count.fetch_add(1, std::memory_order_relaxed);
  }
}

void Metrics::RecordRequest(const std::string& model, int64_t version, const std::string& api,
                            absl::StatusCode code, absl::Duration latency) {
  std::shared_ptr<Series> series;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = request_index_.find(RequestKeyView(model, version, api, code));
    if (found == request_index_.end()) {
      found = request_index_.emplace(RequestKey{model, version, api, code}, nullptr).first;
    }
    std::shared_ptr<Series>& indexed = found->second;
    if (indexed == nullptr) {
      std::shared_ptr<Series>& created =
          requests_[{{"model", model},
                     {"version", version > 0 ? std::to_string(version) : ""},
                     {"api", api},
                     {"status", absl::StatusCodeToString(code)}}];
      if (!created) created = std::make_shared<Series>();
      indexed = created;
    }
    series = indexed;
  }
  series->count.fetch_add(1, std::memory_order_relaxed);
  series->latency.Observe(latency);
}

void Metrics::ForgetModel(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto* family : {&loads_, &load_failures_, &requests_}) {
    for (auto it = family->begin(); it != family->end();) {
      it = it->first.at("model") == model ? family->erase(it) : std::next(it);
    }
  }
  absl::erase_if(request_index_, [&](const auto& entry) { return entry.first.model == model; });
}

std::vector<Metrics::CounterSample> Metrics::Counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<CounterSample> out;
  auto add = [&](const char* name, const std::map<Labels, std::shared_ptr<Series>>& family) {
    for (const auto& [labels, series] : family) out.push_back({name, labels, series->count.load()});
  };
  add("servekit_model_load_failures_total", load_failures_);
  add("servekit_model_loads_total", loads_);
  add("servekit_requests_total", requests_);
  return out;
}

std::vector<Metrics::HistogramSample> Metrics::Histograms() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<HistogramSample> out;
  for (const auto& [labels, series] : loads_)
    out.push_back({"servekit_model_load_seconds", labels, series->latency.Read()});
  for (const auto& [labels, series] : requests_) {
    out.push_back({"servekit_request_latency_seconds", labels, series->latency.Read()});
  }
  return out;
}

}  // namespace servekit
