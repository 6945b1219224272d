#include "servekit/server/rest/rest_api.h"

#include <rapidjson/document.h>

#include <optional>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "servekit/server/prometheus_text.h"
#include "servekit/server/rest/json_inference_codec.h"
#include "servekit/server/rest/json_response.h"
#include "servekit/serving/model_status.h"
#include "servekit/serving/request_path.h"
#include "servekit/serving/signature.h"
#include "servekit/util/json_document.h"
#include "servekit/util/json_writer.h"

namespace servekit {
namespace {

constexpr absl::string_view kModelsPrefix = "/v1/models";

// A parsed /v1/models/... path.
struct ModelPath {
  std::string model;  // "" for /v1/models itself
  std::optional<int64_t> version;
  std::optional<std::string> label;
  bool metadata = false;
  std::string verb;  // after ':' ("predict", ...), lower-cased; "" for none
};

// Parses "/v1/models[/{m}[/versions/{v}|/labels/{l}][/metadata]][:verb]"
// (case-insensitive keywords, as TF Serving's routes are). nullopt if the path
// has another shape; InvalidArgument for a version that is not a number.
StatusOr<std::optional<ModelPath>> ParseModelPath(absl::string_view path) {
  if (!absl::StartsWithIgnoreCase(path, kModelsPrefix)) return std::optional<ModelPath>();
  absl::string_view rest = path.substr(kModelsPrefix.size());
  ModelPath out;
  if (const size_t colon = rest.rfind(':'); colon != absl::string_view::npos) {
    out.verb = absl::AsciiStrToLower(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return std::optional<ModelPath>(out);
  if (rest.front() != '/') return std::optional<ModelPath>();
  // Inline: the path of every request is split here (no allocation for the usual 1-4 parts).
  absl::InlinedVector<absl::string_view, 4> parts = absl::StrSplit(rest.substr(1), '/');
  if (!parts.empty() && absl::EqualsIgnoreCase(parts.back(), "metadata") && parts.size() > 1) {
    out.metadata = true;
    parts.pop_back();
  }
  if (parts.empty() || parts[0].empty() || (parts.size() != 1 && parts.size() != 3)) {
    return std::optional<ModelPath>();
  }
  out.model = std::string(parts[0]);
  if (parts.size() == 3) {
    if (parts[2].empty()) return std::optional<ModelPath>();
    if (absl::EqualsIgnoreCase(parts[1], "versions")) {
      int64_t version;
      if (!absl::SimpleAtoi(parts[2], &version)) {
        return absl::InvalidArgumentError(
            absl::StrCat("Failed to convert version: ", parts[2], " to numeric."));
      }
      out.version = version;
    } else if (absl::EqualsIgnoreCase(parts[1], "labels")) {
      out.label = std::string(parts[2]);
    } else {
      return std::optional<ModelPath>();
    }
  }
  return std::optional<ModelPath>(out);
}

ModelSpec SpecOf(const ModelPath& path) { return ModelSpec{path.model, path.version, path.label}; }

void WriteError(const Status& status, HttpResponse* response) {
  response->status = HttpStatusFor(status.code());
  response->content_type = "application/json";
  response->body.clear();
  AppendErrorResponse(status.message(), &response->body);
}

void WriteMethodNotAllowed(absl::string_view allowed, HttpResponse* response) {
  WriteError(absl::InvalidArgumentError(absl::StrCat("this route answers ", allowed, " only")),
             response);
  response->status = 405;
}

void WriteVersionStatus(const VersionStatus& v, JsonWriter& json) {
  json.BeginObject()
      .Key("version")
      .String(std::to_string(v.version))
      .Key("state")
      .String(VersionStateName(v.state))
      .Key("status")
      .BeginObject()
      .Key("error_code")
      .String(absl::StatusCodeToString(v.status.code()))
      .Key("error_message")
      .String(v.status.message())
      .EndObject()
      .EndObject();
}

void WriteTensorInfos(absl::Span<const TensorSpec> specs, JsonWriter& json) {
  json.BeginObject();
  for (const TensorSpec& spec : specs) {
    json.Key(spec.name).BeginObject().Key("dtype").String(TfDataTypeName(spec.dtype));
    json.Key("tensor_shape").BeginObject().Key("dim").BeginArray();
    for (const Dim& dim : spec.shape) {
      // TF Serving prints int64 sizes as JSON strings (proto3 JSON).
      json.BeginObject()
          .Key("size")
          .String(dim.is_fixed() ? std::to_string(dim.value()) : "-1")
          .Key("name")
          .String("")
          .EndObject();
    }
    json.EndArray().Key("unknown_rank").Bool(false).EndObject();
    json.Key("name").String(spec.name).EndObject();
  }
  json.EndObject();
}

StatusOr<int64_t> VersionFromJson(absl::string_view body) {
  rapidjson::Document doc;
  if (!ParseJsonDocument(body, &doc).ok() || !doc.IsObject() || !doc.HasMember("version") ||
      !(doc["version"].IsInt64() || doc["version"].IsString())) {
    return absl::InvalidArgumentError("the body must be {\"version\": <number>}");
  }
  if (doc["version"].IsInt64()) return doc["version"].GetInt64();
  int64_t version;
  if (!absl::SimpleAtoi(doc["version"].GetString(), &version)) {
    return absl::InvalidArgumentError("the body must be {\"version\": <number>}");
  }
  return version;
}

void ListModels(const ServerCore& core, HttpResponse* response) {
  JsonWriter json(&response->body);
  json.BeginObject().Key("models").BeginArray();
  for (const ModelConfig& model : core.Models()) {
    json.BeginObject().Key("name").String(model.name).Key("model_version_status").BeginArray();
    if (auto versions = core.manager().GetStatus(model.name); versions.ok()) {
      for (const VersionStatus& v : *versions) WriteVersionStatus(v, json);
    }
    json.EndArray().EndObject();
  }
  json.EndArray().EndObject();
}

void WriteModelStatus(const ServerCore& core, const ModelPath& route, HttpResponse* response) {
  StatusOr<std::vector<VersionStatus>> versions = GetModelStatus(core, SpecOf(route));
  if (!versions.ok()) return WriteError(versions.status(), response);
  JsonWriter json(&response->body);
  json.BeginObject().Key("model_version_status").BeginArray();
  for (const VersionStatus& v : *versions) WriteVersionStatus(v, json);
  json.EndArray().EndObject();
}

void WriteModelMetadata(const ServerCore& core, const ModelPath& route, HttpResponse* response) {
  StatusOr<ModelMetadata> metadata = GetModelMetadata(core, SpecOf(route), /*api=*/"");
  if (!metadata.ok()) return WriteError(metadata.status(), response);
  JsonWriter json(&response->body);
  json.BeginObject()
      .Key("model_spec")
      .BeginObject()
      .Key("name")
      .String(route.model)
      .Key("signature_name")
      .String("")
      .Key("version")
      .String(std::to_string(metadata->handle.version()))
      .EndObject();
  json.Key("metadata")
      .BeginObject()
      .Key("signature_def")
      .BeginObject()
      .Key("signature_def")
      .BeginObject();
  for (const ModelSignature& signature : metadata->signatures) {
    json.Key(signature.name).BeginObject().Key("inputs");
    WriteTensorInfos(signature.inputs, json);
    json.Key("outputs");
    WriteTensorInfos(signature.outputs, json);
    json.Key("method_name").String(signature.method_name).EndObject();
  }
  json.EndObject().EndObject().EndObject().EndObject();
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    default:
      return 500;
  }
}

Status ValidateRestApiOptions(const RestApiOptions& options) {
  if (options.max_request_elements < 1 || options.max_response_bytes < 1) {
    return absl::InvalidArgumentError("max_request_values and max_response_bytes must be positive");
  }
  return absl::OkStatus();
}

RestApi::RestApi(ServerCore* core, RestApiOptions options, std::function<int64_t()> in_flight)
    : core_(core), options_(std::move(options)), in_flight_(std::move(in_flight)) {}

void RestApi::Handle(const HttpRequest& request, HttpResponse* response) const {
  absl::string_view path = request.target;
  if (const size_t query = path.find('?'); query != absl::string_view::npos)
    path = path.substr(0, query);
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  std::string& body = response->body;
  response->status = 200;
  response->content_type = "application/json";

  // --- health and metrics ---------------------------------------------------------------
  if (path == "/v2/health/live" || path == "/v2/health/ready") {
    if (!get) return WriteMethodNotAllowed("GET", response);
    if (path == "/v2/health/ready") {
      bool ready = !draining_;
      for (const ModelConfig& model : core_->Models()) {
        ready = ready && core_->GetHandle(ModelSpec::Latest(model.name)).ok();
      }
      response->status = ready ? 200 : 503;
    }
    return;
  }
  if (!options_.prometheus_path.empty() && path == options_.prometheus_path) {
    if (!get) return WriteMethodNotAllowed("GET", response);
    response->content_type = kPrometheusContentType;
    AppendPrometheusText(core_->metrics(), in_flight_ ? in_flight_() : 0, &body);
    return;
  }
  if (absl::EqualsIgnoreCase(path, "/v1/config:reload")) {
    if (!post)
      return WriteError(absl::InvalidArgumentError(
                            absl::StrCat("Malformed request: ", request.method, " ", path)),
                        response);
    if (!options_.enable_model_management) {
      return WriteError(
          absl::PermissionDeniedError(
              "model management over HTTP is disabled (servekit-server --enable_model_management)"),
          response);
    }
    StatusOr<std::vector<ModelConfig>> models = ParseModelServerConfig(std::string(request.body));
    Status status = models.ok() ? core_->ReloadConfig(*std::move(models)) : models.status();
    if (!status.ok()) return WriteError(status, response);
    body = "{}";
    return;
  }

  // --- /v1/models ---------------------------------------------------------------------------
  StatusOr<std::optional<ModelPath>> parsed = ParseModelPath(path);
  if (!parsed.ok()) return WriteError(parsed.status(), response);
  if (!parsed->has_value()) {
    if (absl::StartsWithIgnoreCase(path, "/v1/")) {
      return WriteError(absl::InvalidArgumentError(
                            absl::StrCat("Malformed request: ", request.method, " ", path)),
                        response);
    }
    return WriteError(absl::NotFoundError(absl::StrCat("no route for ", request.method, " ", path)),
                      response);
  }
  const ModelPath& route = **parsed;
  const auto malformed = [&] {
    WriteError(
        absl::InvalidArgumentError(absl::StrCat("Malformed request: ", request.method, " ", path)),
        response);
  };
  if (route.version && route.label) return malformed();

  if (get && route.verb.empty()) {
    if (route.model.empty()) return ListModels(*core_, response);
    if (route.metadata) return WriteModelMetadata(*core_, route, response);
    return WriteModelStatus(*core_, route, response);
  }
  if (!post || route.model.empty() || route.metadata || route.verb.empty()) return malformed();

  // --- inference ------------------------------------------------------------------------------
  if (route.verb == "predict" || route.verb == "classify" || route.verb == "regress") {
    const RequestKind kind = route.verb == "predict"    ? RequestKind::kPredict
                             : route.verb == "classify" ? RequestKind::kClassify
                                                        : RequestKind::kRegress;
    JsonInferenceCodec codec(kind, request.body, options_.max_request_elements,
                             options_.max_response_bytes, &body);
    const Status status =
        RunInference(*core_, InferenceSpec{SpecOf(route), "", kind, route.verb}, codec);
    if (!status.ok()) WriteError(status, response);
    return;
  }

  // --- model management --------------------------------------------------------------------
  const bool management = route.verb == "add" || route.verb == "remove" || route.verb == "load" ||
                          route.verb == "unload" || route.verb == "assign";
  if (!management) return malformed();
  if (!options_.enable_model_management) {
    return WriteError(
        absl::PermissionDeniedError(
            "model management over HTTP is disabled (servekit-server --enable_model_management)"),
        response);
  }
  Status status;
  if ((route.verb == "add" || route.verb == "remove") && !route.version && !route.label) {
    if (route.verb == "remove") {
      status = core_->RemoveModel(route.model);
    } else {
      StatusOr<ModelConfig> config = ModelConfigFromJson(request.body, route.model);
      status = config.ok() ? core_->AddModel(*std::move(config)) : config.status();
    }
  } else if ((route.verb == "load" || route.verb == "unload") && route.version) {
    status = route.verb == "load" ? core_->LoadVersion(route.model, *route.version)
                                  : core_->UnloadVersion(route.model, *route.version);
  } else if (route.verb == "assign" && route.label) {
    StatusOr<int64_t> version = VersionFromJson(request.body);
    status = version.ok() ? core_->SetLabel(route.model, *route.label, *version) : version.status();
  } else {
    return malformed();
  }
  if (!status.ok()) return WriteError(status, response);
  body = "{}";
}

}  // namespace servekit
