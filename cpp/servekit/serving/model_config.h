// ModelConfig: one model the server should serve, validated, in servekit's own
// types. Built from TF Serving's text-format ModelServerConfig (a config file
// or a gRPC reload request) or directly from Python.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

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
StatusOr<std::vector<ModelConfig>> ModelConfigsFromProto(const tensorflow::serving::ModelServerConfig& proto);

// Parses TF Serving's text format ("model_config_list { config { ... } }").
// Syntax errors report line and column.
StatusOr<std::vector<ModelConfig>> ParseModelServerConfig(const std::string& text);

}  // namespace servekit
