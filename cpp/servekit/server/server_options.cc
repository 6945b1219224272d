#include "servekit/server/server_options.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace servekit {
namespace {

constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

std::string Describe(const OptionValue& value) {
  struct {
    std::string operator()(std::monostate) const { return "None"; }
    std::string operator()(bool b) const { return b ? "True" : "False"; }
    std::string operator()(int64_t i) const { return absl::StrCat(i); }
    std::string operator()(double d) const { return absl::StrCat(d); }
    std::string operator()(const std::string& s) const { return absl::StrCat("'", s, "'"); }
  } describe;
  return std::visit(describe, value);
}

// The option's value converted for its setter, or the reason it cannot be.
StatusOr<OptionValue> Check(const ServerOption& option, const OptionValue& value,
                            absl::string_view name) {
  const auto refuse = [&](absl::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be ", rule, "; got ", Describe(value)));
  };
  const int64_t* integer = std::get_if<int64_t>(&value);
  switch (option.kind) {
    case OptionKind::kBool:
      if (!std::holds_alternative<bool>(value)) return refuse("true or false");
      return value;
    case OptionKind::kText:
      if (!std::holds_alternative<std::string>(value)) return refuse("text");
      return value;
    case OptionKind::kInt:
      if (integer == nullptr) return refuse("an integer");
      if (*integer < option.min || *integer > option.max)
        return refuse(absl::StrCat("in [", option.min, ", ", option.max, "]"));
      return value;
    case OptionKind::kPort:
      if (std::holds_alternative<std::monostate>(value)) return value;
      if (integer == nullptr || *integer < 0 || *integer > 65535)
        return refuse("in [0, 65535] or None");
      return value;
    case OptionKind::kThreads:
      if (std::holds_alternative<std::monostate>(value)) return value;
      if (integer == nullptr || *integer < 1 || *integer > kIntMax)
        return refuse("positive or None (one per core)");
      return value;
    case OptionKind::kSeconds: {
      const double* number = std::get_if<double>(&value);
      if (integer == nullptr && number == nullptr) return refuse("a number");
      const double seconds =
          (integer ? static_cast<double>(*integer) : *number) * option.unit_seconds;
      if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9) {
        return refuse(option.unit_seconds == 1.0
                          ? "a finite number of seconds and must not be negative (at most 1e9)"
                          : "a finite number and must not be negative");
      }
      return OptionValue(seconds);
    }
  }
  return absl::InternalError("unknown option kind");
}

absl::Duration SecondsOf(const OptionValue& v) {
  return absl::Microseconds(std::llround(std::get<double>(v) * 1e6));
}
int64_t IntOf(const OptionValue& v) { return std::get<int64_t>(v); }
OptionValue SecondsValue(absl::Duration d) { return OptionValue(absl::ToDoubleSeconds(d)); }

std::vector<ServerOption> BuildTable() {
  using K = OptionKind;
  using S = OptionScope;
  using O = ModelServerOptions;
  using V = OptionValue;
  std::vector<ServerOption> t;
  const auto add = [&](ServerOption option) { t.push_back(std::move(option)); };

  // --- ports and threads --------------------------------------------------------------------
  add({"rest_api_port", "", K::kPort, S::kServer, "REST port; 0 picks a free one; None: no REST", 0,
       0, 1, V(),
       [](O& o, const V& v) {
         o.enable_rest = !std::holds_alternative<std::monostate>(v);
         if (o.enable_rest) o.http.port = static_cast<int>(IntOf(v));
       },
       [](const O& o) { return o.enable_rest ? V(int64_t{o.http.port}) : V(); }});
  add({"grpc_port", "port", K::kPort, S::kServer, "gRPC port; 0 picks a free one; None: no gRPC", 0,
       0, 1, V(int64_t{8500}),
       [](O& o, const V& v) {
         o.enable_grpc = !std::holds_alternative<std::monostate>(v);
         if (o.enable_grpc) o.grpc.port = static_cast<int>(IntOf(v));
       },
       [](const O& o) { return o.enable_grpc ? V(int64_t{o.grpc.port}) : V(); }});
  add({"host", "bind_address", K::kText, S::kServer, "address both ports bind", 0, 0, 1,
       V(std::string("0.0.0.0")),
       [](O& o, const V& v) { o.http.address = o.grpc.address = std::get<std::string>(v); },
       [](const O& o) { return V(o.http.address); }});
  add({"rest_api_num_threads", "", K::kThreads, S::kServer,
       "REST server threads (None: one per core, at least 2)", 0, 0, 1, V(),
       [](O& o, const V& v) {
         o.http.num_threads =
             std::holds_alternative<std::monostate>(v) ? 0 : static_cast<int>(IntOf(v));
       },
       [](const O& o) { return o.http.num_threads > 0 ? V(int64_t{o.http.num_threads}) : V(); }});
  add({"grpc_num_threads", "grpc_max_threads", K::kThreads, S::kServer,
       "gRPC server threads (None: one per core, at least 2)", 0, 0, 1, V(),
       [](O& o, const V& v) {
         o.grpc.num_threads =
             std::holds_alternative<std::monostate>(v) ? 0 : static_cast<int>(IntOf(v));
       },
       [](const O& o) { return o.grpc.num_threads > 0 ? V(int64_t{o.grpc.num_threads}) : V(); }});

  // --- limits -----------------------------------------------------------------------------------
  add({"rest_api_timeout_in_ms", "", K::kInt, S::kServer,
       "time allowed to read a request and to write its response", 1, kIntMax, 1, V(),
       [](O& o, const V& v) { o.http.timeout = absl::Milliseconds(IntOf(v)); },
       [](const O& o) { return V(absl::ToInt64Milliseconds(o.http.timeout)); }});
  add({"max_request_bytes", "", K::kInt, S::kServer, "largest REST request body (413 beyond)", 1,
       kIntMax, 1, V(), [](O& o, const V& v) { o.http.max_body_bytes = IntOf(v); },
       [](const O& o) { return V(static_cast<int64_t>(o.http.max_body_bytes)); }});
  add({"grpc_max_message_bytes", "", K::kInt, S::kServer,
       "largest gRPC request or response (RESOURCE_EXHAUSTED beyond)", 1, kIntMax, 1, V(),
       [](O& o, const V& v) { o.grpc.max_message_bytes = static_cast<int>(IntOf(v)); },
       [](const O& o) { return V(int64_t{o.grpc.max_message_bytes}); }});
  add({"max_request_values", "", K::kInt, S::kServer,
       "values in one request's inputs, both APIs (RESOURCE_EXHAUSTED beyond, before allocating)",
       1, kInt64Max, 1, V(), [](O& o, const V& v) { o.max_request_values = IntOf(v); },
       [](const O& o) { return V(o.max_request_values); }});
  add({"max_response_bytes", "", K::kInt, S::kServer,
       "largest REST (JSON) answer; gRPC answers are bounded by grpc_max_message_bytes", 1, kIntMax,
       1, V(), [](O& o, const V& v) { o.max_response_bytes = IntOf(v); },
       [](const O& o) { return V(static_cast<int64_t>(o.max_response_bytes)); }});
  add({"max_connections", "", K::kInt, S::kServer,
       "open connections per port; at the cap the longest-idle one is closed (0: derived from the "
       "open-file limit, "
       "at most 10,000)",
       0, kIntMax, 1, V(), [](O& o, const V& v) { o.max_connections = static_cast<int>(IntOf(v)); },
       [](const O& o) { return V(int64_t{o.max_connections}); }});
  add({"idle_timeout_seconds", "", K::kSeconds, S::kServer,
       "close connections (REST keep-alive, gRPC with no open call) idle this long", 0, 0, 1, V(),
       [](O& o, const V& v) { o.idle_timeout = SecondsOf(v); },
       [](const O& o) { return SecondsValue(o.idle_timeout); }});
  add({"drain_timeout_seconds", "", K::kSeconds, S::kServer,
       "how long a stop (SIGTERM) waits for requests in flight", 0, 0, 1, V(),
       [](O& o, const V& v) { o.drain_timeout = SecondsOf(v); },
       [](const O& o) { return SecondsValue(o.drain_timeout); }});

  // --- models and management -----------------------------------------------------------------
  add({"model_config_file_poll_wait_seconds", "", K::kSeconds, S::kServer,
       "re-read the config file this often (0: read once)", 0, 0, 1, V(),
       [](O& o, const V& v) { o.model_config_file_poll_wait = SecondsOf(v); },
       [](const O& o) { return SecondsValue(o.model_config_file_poll_wait); }});
  add({"enable_model_management", "", K::kBool, S::kServer,
       "allow adding/removing models and loading/unloading versions over REST and gRPC", 0, 0, 1,
       V(), [](O& o, const V& v) { o.enable_model_management = std::get<bool>(v); },
       [](const O& o) { return V(o.enable_model_management); }});
  add({"prometheus_path", "-", K::kText, S::kServer,
       "path of the Prometheus metrics (\"\": none); servekit-server reads it from "
       "--monitoring_config_file",
       0, 0, 1, V(), [](O& o, const V& v) { o.rest.prometheus_path = std::get<std::string>(v); },
       [](const O& o) { return V(o.rest.prometheus_path); }});

  // --- the serving core
  // ---------------------------------------------------------------------------
  add({"num_load_threads", "", K::kInt, S::kCore, "threads loading model versions", 1, kIntMax, 1,
       V(), [](O& o, const V& v) { o.core.num_load_threads = static_cast<int>(IntOf(v)); },
       [](const O& o) { return V(int64_t{o.core.num_load_threads}); }});
  add({"max_num_load_retries", "", K::kInt, S::kCore, "retries of a failing load", 0, kIntMax, 1,
       V(), [](O& o, const V& v) { o.core.max_num_load_retries = static_cast<int>(IntOf(v)); },
       [](const O& o) { return V(int64_t{o.core.max_num_load_retries}); }});
  add({"load_retry_interval_micros", "", K::kSeconds, S::kCore,
       "wait between load retries (microseconds)", 0, 0, 1e-6, V(),
       [](O& o, const V& v) { o.core.load_retry_interval = SecondsOf(v); },
       [](const O& o) { return V(absl::ToInt64Microseconds(o.core.load_retry_interval)); }});
  add({"file_system_poll_wait_seconds", "", K::kSeconds, S::kCore,
       "look for new versions this often (0: once per config change)", 0, 0, 1, V(),
       [](O& o, const V& v) { o.core.file_system_poll_wait = SecondsOf(v); },
       [](const O& o) { return SecondsValue(o.core.file_system_poll_wait); }});
  add({"resource_preserving", "", K::kBool, S::kCore,
       "unload the old version before loading the new one (TF Serving's resource-preserving "
       "policy)",
       0, 0, 1, V(), [](O& o, const V& v) { o.core.resource_preserving = std::get<bool>(v); },
       [](const O& o) { return V(o.core.resource_preserving); }});
  add({"allow_version_labels_for_unavailable_models", "", K::kBool, S::kCore,
       "let a label point at a version that is not available yet", 0, 0, 1, V(),
       [](O& o, const V& v) { o.core.allow_labels_for_unavailable_versions = std::get<bool>(v); },
       [](const O& o) { return V(o.core.allow_labels_for_unavailable_versions); }});
  add({"intra_op_threads", "tensorflow_intra_op_parallelism", K::kInt, S::kCore,
       "threads per inference (intra-op)", 1, kIntMax, 1, V(),
       [](O& o, const V& v) { o.core.session.intra_op_threads = static_cast<int>(IntOf(v)); },
       [](const O& o) { return V(int64_t{o.core.session.intra_op_threads}); }});
  add({"load_wait_seconds", "", K::kSeconds, S::kCore,
       "how long a config change waits for new models to load before applying their labels", 0, 0,
       1, V(), [](O& o, const V& v) { o.core.load_wait = SecondsOf(v); },
       [](const O& o) { return SecondsValue(o.core.load_wait); }});
  return t;
}

}  // namespace

const std::vector<ServerOption>& ServerOptionTable() {
  static const auto* table = new std::vector<ServerOption>(BuildTable());
  return *table;
}

Status SetServerOption(ModelServerOptions& options, absl::string_view name,
                       const OptionValue& value, absl::string_view display_name) {
  for (const ServerOption& option : ServerOptionTable()) {
    if (option.name != name) continue;
    const bool none_means_off =
        option.kind == OptionKind::kPort || option.kind == OptionKind::kThreads;
    if (std::holds_alternative<std::monostate>(value) && !none_means_off)
      return absl::OkStatus();  // the default
    ASSIGN_OR_RETURN(OptionValue checked, Check(option, value, display_name));
    option.set(options, checked);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown option '", name, "'"));
}

}  // namespace servekit
