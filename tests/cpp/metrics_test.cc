#include "servekit/serving/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace servekit {
namespace {

TEST(LatencyHistogramTest, BucketsAreCumulativeAndCountEverything) {
  LatencyHistogram h;
  h.Observe(absl::Microseconds(5));   // bucket 0 (<= 10 µs)
  h.Observe(absl::Microseconds(15));  // bucket 1 (<= 20 µs)
  h.Observe(absl::Milliseconds(1));   // <= 1.28 ms: bucket 7
  h.Observe(absl::Hours(1));          // past the last bound: +Inf only
  const auto s = h.Read();
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.cumulative[0], 1u);
  EXPECT_EQ(s.cumulative[1], 2u);
  EXPECT_EQ(s.cumulative[6], 2u);
  EXPECT_EQ(s.cumulative[7], 3u);
  EXPECT_EQ(s.cumulative[LatencyHistogram::kBuckets - 1], 3u);
  EXPECT_EQ(s.cumulative[LatencyHistogram::kBuckets], 4u);
  EXPECT_NEAR(s.sum_seconds, 3600 + 0.001 + 20e-6, 1e-6);
  EXPECT_DOUBLE_EQ(LatencyHistogram::UpperBoundSeconds(0), 10e-6);
  EXPECT_DOUBLE_EQ(LatencyHistogram::UpperBoundSeconds(3), 80e-6);
}

TEST(MetricsTest, SeriesAreKeptApartByTheirLabels) {
  Metrics m;
  m.RecordLoad("a", 1, absl::Milliseconds(3), absl::OkStatus());
  m.RecordLoad("a", 2, absl::Milliseconds(3), absl::InvalidArgumentError("corrupt"));
  m.RecordLoad("a", 2, absl::Milliseconds(3), absl::InvalidArgumentError("corrupt"));
  m.RecordRequest("a", 1, "predict", absl::StatusCode::kOk, absl::Microseconds(50));
  m.RecordRequest("a", 1, "predict", absl::StatusCode::kOk, absl::Microseconds(60));
  m.RecordRequest("a", 0, "predict", absl::StatusCode::kNotFound, absl::Microseconds(5));
  std::map<std::string, uint64_t> totals;
  for (const auto& c : m.Counters()) {
    std::string key = c.name;
    for (const auto& [k, v] : c.labels) key += "," + k + "=" + v;
    totals[key] = c.value;
  }
  EXPECT_EQ(totals["servekit_model_loads_total,model=a,version=1"], 1u);
  EXPECT_EQ(totals["servekit_model_load_failures_total,model=a,version=2"], 2u);
  EXPECT_EQ(totals["servekit_requests_total,api=predict,model=a,status=OK,version=1"], 2u);
  EXPECT_EQ(totals["servekit_requests_total,api=predict,model=a,status=NOT_FOUND,version="], 1u);
  EXPECT_EQ(totals.size(), 4u);
  size_t request_histograms = 0;
  for (const auto& h : m.Histograms())
    request_histograms += h.name == "servekit_request_latency_seconds";
  EXPECT_EQ(request_histograms, 2u);
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 10000; ++i) {
        m.RecordRequest("m", 1 + t % 2, "predict", absl::StatusCode::kOk,
                        absl::Microseconds(i % 100));
      }
    });
  }
  for (auto& t : threads) t.join();
  uint64_t total = 0;
  for (const auto& c : m.Counters()) total += c.value;
  EXPECT_EQ(total, 80000u);
  uint64_t observed = 0;
  for (const auto& h : m.Histograms()) observed += h.snapshot.count;
  EXPECT_EQ(observed, 80000u);
}

}  // namespace
}  // namespace servekit
