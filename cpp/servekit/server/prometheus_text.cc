#include "servekit/server/prometheus_text.h"

#include <charconv>
#include <map>

#include "absl/strings/str_cat.h"

namespace servekit {
namespace {

const std::map<std::string, std::pair<const char*, const char*>>& Families() {
  // name -> (type, help)
  static const auto* families = new std::map<std::string, std::pair<const char*, const char*>>{
      {"servekit_requests_total", {"counter", "Requests by model, version, API and status code."}},
      {"servekit_request_latency_seconds",
       {"histogram", "Request latency by model, version, API and status code."}},
      {"servekit_model_loads_total", {"counter", "Successful model version loads."}},
      {"servekit_model_load_failures_total",
       {"counter", "Failed model version load attempts (retries included)."}},
      {"servekit_model_load_seconds", {"histogram", "Time to load a model version."}},
  };
  return *families;
}

void AppendLabelValue(const std::string& value, std::string* out) {
  for (char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// {a="1",b="2"} with an optional extra label (the histogram's "le").
void AppendLabels(const Metrics::Labels& labels, const char* extra_name,
                  const std::string& extra_value, std::string* out) {
  if (labels.empty() && extra_name == nullptr) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, name, "=\"");
    AppendLabelValue(value, out);
    out->push_back('"');
  }
  if (extra_name != nullptr) {
    if (!first) out->push_back(',');
    absl::StrAppend(out, extra_name, "=\"", extra_value, "\"");
  }
  out->push_back('}');
}

std::string Number(double value) {
  char buffer[32];
  return std::string(buffer, std::to_chars(buffer, buffer + sizeof(buffer), value).ptr);
}

void AppendHeader(const std::string& name, std::string* out) {
  const auto& [type, help] = Families().at(name);
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

void AppendPrometheusText(const Metrics& metrics, int64_t requests_in_flight, std::string* out) {
  std::string current;
  for (const Metrics::CounterSample& c : metrics.Counters()) {
    if (c.name != current) AppendHeader(current = c.name, out);
    out->append(c.name);
    AppendLabels(c.labels, nullptr, "", out);
    absl::StrAppend(out, " ", c.value, "\n");
  }
  current.clear();
  for (const Metrics::HistogramSample& h : metrics.Histograms()) {
    if (h.name != current) AppendHeader(current = h.name, out);
    for (int b = 0; b <= LatencyHistogram::kBuckets; ++b) {
      const std::string le =
          b == LatencyHistogram::kBuckets ? "+Inf" : Number(LatencyHistogram::UpperBoundSeconds(b));
      absl::StrAppend(out, h.name, "_bucket");
      AppendLabels(h.labels, "le", le, out);
      absl::StrAppend(out, " ", h.snapshot.cumulative[b], "\n");
    }
    absl::StrAppend(out, h.name, "_sum");
    AppendLabels(h.labels, nullptr, "", out);
    absl::StrAppend(out, " ", Number(h.snapshot.sum_seconds), "\n", h.name, "_count");
    AppendLabels(h.labels, nullptr, "", out);
    absl::StrAppend(out, " ", h.snapshot.count, "\n");
  }
  absl::StrAppend(
      out,
      "# HELP servekit_requests_in_flight HTTP requests received and not yet answered.\n"
      "# TYPE servekit_requests_in_flight gauge\n"
      "servekit_requests_in_flight ",
      requests_in_flight, "\n");
}

}  // namespace servekit
