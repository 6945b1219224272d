// Metrics: the serving core's counters and latency histograms, kept natively so
// a Prometheus endpoint (and Python) can read them without touching requests.
//
// Series are identified by their labels: loads by (model, version), requests
// by (model, version, api, status). Recording is thread-safe and cheap: a short
// lock to find the series, then atomic updates. Histograms use fixed
// exponential buckets from 10 µs to ~100 s; Prometheus' convention of
// cumulative "le" buckets is applied when they are read.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace servekit {

class LatencyHistogram {
 public:
  static constexpr int kBuckets = 24;  // upper bounds 10 µs * 2^i
  static double UpperBoundSeconds(int bucket);

  void Observe(absl::Duration latency);

  struct Snapshot {
    std::array<uint64_t, kBuckets + 1> cumulative{};  // last entry: +Inf (= count)
    uint64_t count = 0;
    double sum_seconds = 0;
  };
  Snapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets + 1> buckets_{};  // last: overflow
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};
};

class Metrics {
 public:
  void RecordLoad(const std::string& model, int64_t version, absl::Duration latency,
                  const absl::Status& status);
  void RecordRequest(const std::string& model, int64_t version, const std::string& api,
                     absl::StatusCode code, absl::Duration latency);
  // Drops every series of `model` (it left the config), so that a client
  // adding and removing models cannot grow the metrics without bound.
  void ForgetModel(const std::string& model);

  using Labels = std::map<std::string, std::string>;
  struct CounterSample {
    std::string name;
    Labels labels;
    uint64_t value = 0;
  };
  struct HistogramSample {
    std::string name;
    Labels labels;
    LatencyHistogram::Snapshot snapshot;
  };
  // Every series, sorted by name then labels.
  std::vector<CounterSample> Counters() const;
  std::vector<HistogramSample> Histograms() const;

 private:
  struct Series {
    std::atomic<uint64_t> count{0};
    LatencyHistogram latency;
  };
  // Series are shared: a recorder keeps its series alive while ForgetModel drops it.
  std::shared_ptr<Series> Find(std::map<Labels, std::shared_ptr<Series>>& family,
                               const Labels& labels);

  mutable std::mutex mu_;
  std::map<Labels, std::shared_ptr<Series>> loads_;          // successful loads + their latency
  std::map<Labels, std::shared_ptr<Series>> load_failures_;  // failed attempts
  std::map<Labels, std::shared_ptr<Series>> requests_;       // by status + latency
  // requests_ by the request's own parts, looked up through views of them:
  // recording a request builds no label map and allocates nothing.
  struct RequestKey {
    std::string model;
    int64_t version;
    std::string api;
    absl::StatusCode code;
  };
  struct RequestKeyView {
    RequestKeyView(absl::string_view m, int64_t v, absl::string_view a, absl::StatusCode c)
        : model(m), version(v), api(a), code(c) {}
    RequestKeyView(const RequestKey& k)  // NOLINT: implicit, for the map's lookups
        : model(k.model), version(k.version), api(k.api), code(k.code) {}
    absl::string_view model;
    int64_t version;
    absl::string_view api;
    absl::StatusCode code;
  };
  struct RequestKeyHash {
    using is_transparent = void;
    size_t operator()(const RequestKeyView& k) const {
      return absl::HashOf(k.model, k.version, k.api, k.code);
    }
  };
  struct RequestKeyEq {
    using is_transparent = void;
    bool operator()(const RequestKeyView& a, const RequestKeyView& b) const {
      return a.version == b.version && a.code == b.code && a.model == b.model && a.api == b.api;
    }
  };
  absl::flat_hash_map<RequestKey, std::shared_ptr<Series>, RequestKeyHash, RequestKeyEq>
      request_index_;
};

}  // namespace servekit
