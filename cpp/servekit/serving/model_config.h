// ModelConfig: one model the server should serve, validated, in servekit's own
// types. One reader builds it, from TF Serving's ModelConfig message: the
// text-format ModelServerConfig (a config file, REST's /v1/config:reload), a
// gRPC reload request, or the same message as JSON (REST's :add body, Python's
// dicts).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/serving/model_version_policy.h"
#include "servekit/util/status.h"

namespace tensorflow::serving {
class ModelServerConfig;
}

namespace servekit {

struct ModelConfig {
  std::string name;
  std::string base_path;
  std::string platform;  // "onnx", "tensorflow", or "" to detect from the version directories
  ModelVersionPolicy version_policy = ModelVersionPolicy::Latest();
  std::map<std::string, int64_t> version_labels;

  bool operator==(const ModelConfig& other) const;
};

// Checks one model's config: a name, a base_path, a known platform, a valid
// version policy, labels of [A-Za-z0-9_]+ pointing at positive versions.
Status ValidateModelConfig(const ModelConfig& config);

// The models of a ModelServerConfig (model_config_list), validated, with
// unique names. custom_model_config is Unimplemented.
StatusOr<std::vector<ModelConfig>> ModelConfigsFromProto(
    const tensorflow::serving::ModelServerConfig& proto);

// One model's config from TF Serving's ModelConfig as JSON, the keys of the
// text format: {"name"?, "base_path", "model_platform"?, "model_version_policy"?:
// {"latest": {"num_versions": n}} | {"all": {}} | {"specific": {"versions": [...]}},
// "version_labels"?: {"label": version}}. A non-empty `name` names the model
// (a "name" in the JSON must then agree). Validated like every config.
StatusOr<ModelConfig> ModelConfigFromJson(absl::string_view json, const std::string& name);

// Parses TF Serving's text format ("model_config_list { config { ... } }").
// Syntax errors report line and column.
StatusOr<std::vector<ModelConfig>> ParseModelServerConfig(const std::string& text);

}  // namespace servekit
