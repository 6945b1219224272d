// Parsing REST predict bodies: RapidJSON converting numbers itself (what the
// server did before; unsafe on Debian 12, CVE-2024-38517, and not exact)
// beside the guarded parser the server uses (server/json_document.h), and the
// whole body-to-tensors step (ParsePredictRequest). Bytes/s per body size.
//
//   build/skbuild/json_bench
#include <benchmark/benchmark.h>

#include <charconv>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "rapidjson/document.h"
#include "servekit/server/rest/json_request.h"
#include "servekit/server/rest/json_response.h"
#include "servekit/server/rest/plain_body_scanner.h"
#include "servekit/util/json_document.h"

namespace {

// {"instances": [[rows x cols floats in [0, 1) printed with `digits`
// significant digits]]}: 9 keeps a float32 exactly, 4 is what clients that
// round send (bench/rest_bench.py's body). digits 0: each float32 widened to
// a double and written shortest-exact, as Python's json.dumps writes
// numpy's tolist() (most take 16 or 17 digits: "0.4731886386871338").
std::string Body(int rows, int cols, int digits = 9) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(0, 1);
  std::string body = "{\"instances\": [";
  for (int r = 0; r < rows; ++r) {
    body += r ? ",[" : "[";
    for (int c = 0; c < cols; ++c) {
      if (c) body += ", ";
      char value[32];
      const float x = dist(rng);
      if (digits == 0) {
        body.append(value, std::to_chars(value, value + sizeof(value), double{x}).ptr);
      } else {
        std::snprintf(value, sizeof(value), "%.*g", digits, x);
        body += value;
      }
    }
    body += "]";
  }
  return body + "]}";
}

void BM_RapidJsonConvertsNumbers(benchmark::State& state) {
  const std::string body = Body(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseNanAndInfFlag>(body.data(), body.size());
    benchmark::DoNotOptimize(doc.IsObject());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * body.size());
}

void BM_GuardedParse(benchmark::State& state) {
  const std::string body = Body(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    rapidjson::Document doc;
    benchmark::DoNotOptimize(servekit::ParseJsonDocument(body, &doc).ok());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * body.size());
}

void BM_ParsePredictRequest(benchmark::State& state) {
  const int cols = static_cast<int>(state.range(1));
  const std::string body =
      Body(static_cast<int>(state.range(0)), cols, static_cast<int>(state.range(2)));
  const std::vector<servekit::TensorSpec> inputs = {
      {"x", servekit::DType::kFloat32, {servekit::Dim::Batch(), servekit::Dim::Fixed(cols)}}};
  for (auto _ : state) {
    auto request = servekit::ParsePredictRequest(body, inputs, int64_t{1} << 30);
    benchmark::DoNotOptimize(request.ok());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * body.size());
}

// bench/rest_bench.py's body: 784 numbers in [0, 1) rounded to 4 decimals,
// as Python's json.dumps writes them ("0.1234, 0.05, ...").
std::string RoundedBody() {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> dist(0, 1);
  std::string body = "{\"instances\": [[";
  for (int c = 0; c < 784; ++c) {
    char value[32];
    std::snprintf(value, sizeof(value), "%.4f", dist(rng));
    std::string shortest = value;  // Python's repr: no trailing zeros, one digit after the point
    while (shortest.back() == '0' && shortest[shortest.size() - 2] != '.') shortest.pop_back();
    body += (c ? ", " : "") + shortest;
  }
  return body + "]]}";
}

// The plain-body scanner alone (server/rest/plain_body_scanner.h), ns per
// number, on rest_bench.py's rounded body (arg 4) or on numpy's tolist() of
// float32 values (arg 0: Body(1, 784, 0)). Fails if the scanner declines.
void BM_ScanPlainPredictBody(benchmark::State& state) {
  const std::string body = state.range(0) == 4 ? RoundedBody() : Body(1, 784, 0);
  const std::string padded = body + std::string(servekit::kPlainBodyPadding, '\0');
  const servekit::TensorSpec spec = {
      "x", servekit::DType::kFloat32, {servekit::Dim::Batch(), servekit::Dim::Fixed(784)}};
  servekit::NumberQuotients values;
  for (auto _ : state) {
    values.clear();
    servekit::PlainPredictBody out;
    out.values = &values;
    const bool taken = servekit::ScanPlainPredictBody(std::string_view(padded.data(), body.size()),
                                                      spec, int64_t{1} << 30, &out);
    if (!taken) {
      state.SkipWithError("the scanner declined the body");
      break;
    }
  }
  state.counters["ns_per_number"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 784,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ScanPlainPredictBody)->Arg(4)->Arg(0);

// MNIST-like rows: batch 1 and 32 of 784 values; the demo's 64.
// (ParsePredictRequest's third argument: the significant digits.)
#define BODIES ->Args({1, 64})->Args({1, 784})->Args({32, 784})
BENCHMARK(BM_RapidJsonConvertsNumbers) BODIES;
BENCHMARK(BM_GuardedParse) BODIES;
BENCHMARK(BM_ParsePredictRequest)
    ->Args({1, 64, 9})
    ->Args({1, 784, 9})
    ->Args({32, 784, 9})
    ->Args({1, 784, 4})
    ->Args({32, 784, 4})
    ->Args({1, 784, 0})
    ->Args({32, 784, 0});

}  // namespace

BENCHMARK_MAIN();
