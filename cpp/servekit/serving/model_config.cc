#include "servekit/serving/model_config.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <limits>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "servekit/proto/model_server_config.pb.h"
#include "servekit/util/json_document.h"
#include "servekit/util/text_proto.h"

namespace servekit {
namespace {

namespace tfs = ::tensorflow::serving;

constexpr const char* kPlatforms[] = {"onnx", "tensorflow"};

bool IsLabel(const std::string& label) {
  if (label.empty()) return false;
  for (char c : label) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

ModelVersionPolicy PolicyFromProto(
    const tfs::FileSystemStoragePathSourceConfig::ServableVersionPolicy& proto) {
  using Proto = tfs::FileSystemStoragePathSourceConfig::ServableVersionPolicy;
  switch (proto.policy_choice_case()) {
    case Proto::kLatest:
      // An unset num_versions means the default, 1.
      return ModelVersionPolicy::Latest(
          proto.latest().num_versions() == 0 ? 1 : proto.latest().num_versions());
    case Proto::kAll:
      return ModelVersionPolicy::All();
    case Proto::kSpecific:
      return ModelVersionPolicy::Specific(
          {proto.specific().versions().begin(), proto.specific().versions().end()});
    case Proto::POLICY_CHOICE_NOT_SET:
      break;
  }
  return ModelVersionPolicy::Latest();
}

// {"latest": {"num_versions": n}?} | {"all": {}} | {"specific": {"versions": [...]}}
Status PolicyFromJson(const rapidjson::Value& value,
                      tfs::FileSystemStoragePathSourceConfig::ServableVersionPolicy* policy) {
  if (!value.IsObject() || value.MemberCount() != 1) {
    return absl::InvalidArgumentError(
        "'model_version_policy' must be one of {\"latest\": {\"num_versions\": n}}, {\"all\": {}}, "
        "{\"specific\": {\"versions\": [...]}}");
  }
  const std::string kind = value.MemberBegin()->name.GetString();
  const rapidjson::Value& params = value.MemberBegin()->value;
  if (!params.IsObject())
    return absl::InvalidArgumentError("the version policy's parameters must be an object");
  if (kind == "latest") {
    int64_t n = 1;
    if (params.HasMember("num_versions")) {
      if (!params["num_versions"].IsInt64())
        return absl::InvalidArgumentError("num_versions must be an integer");
      n = params["num_versions"].GetInt64();
    }
    if (n < 1 || n > std::numeric_limits<uint32_t>::max()) {
      RETURN_IF_ERROR(ModelVersionPolicy::Latest(n).Validate());
      return absl::InvalidArgumentError(
          absl::StrCat("num_versions must be in [1, ", std::numeric_limits<uint32_t>::max(), "]"));
    }
    policy->mutable_latest()->set_num_versions(static_cast<uint32_t>(n));
  } else if (kind == "all") {
    policy->mutable_all();
  } else if (kind == "specific") {
    if (!params.HasMember("versions") || !params["versions"].IsArray()) {
      return absl::InvalidArgumentError("a specific version policy needs a 'versions' list");
    }
    for (const auto& v : params["versions"].GetArray()) {
      if (!v.IsInt64()) return absl::InvalidArgumentError("versions must be integers");
      policy->mutable_specific()->add_versions(v.GetInt64());
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown version policy '", kind, "'"));
  }
  return absl::OkStatus();
}

// TF Serving's ModelConfig in its JSON form (the keys of the text format).
Status ModelConfigProtoFromJson(absl::string_view json, tfs::ModelConfig* proto) {
  rapidjson::Document doc;
  RETURN_IF_ERROR(ParseJsonDocument(json, &doc));
  if (!doc.IsObject()) return absl::InvalidArgumentError("the model config must be a JSON object");
  for (const auto& member : doc.GetObject()) {
    const std::string key = member.name.GetString();
    const rapidjson::Value& value = member.value;
    if (key == "name" || key == "base_path" || key == "model_platform") {
      if (!value.IsString())
        return absl::InvalidArgumentError(absl::StrCat("'", key, "' must be a string"));
      const std::string text(value.GetString(), value.GetStringLength());
      if (key == "name") proto->set_name(text);
      if (key == "base_path") proto->set_base_path(text);
      if (key == "model_platform") proto->set_model_platform(text);
    } else if (key == "model_version_policy") {
      RETURN_IF_ERROR(PolicyFromJson(value, proto->mutable_model_version_policy()));
    } else if (key == "version_labels") {
      if (!value.IsObject())
        return absl::InvalidArgumentError("'version_labels' must be an object");
      for (const auto& label : value.GetObject()) {
        if (!label.value.IsInt64())
          return absl::InvalidArgumentError("label versions must be integers");
        (*proto->mutable_version_labels())[label.name.GetString()] = label.value.GetInt64();
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown model config key '", key, "'"));
    }
  }
  return absl::OkStatus();
}

// One model of a config, validated.
StatusOr<ModelConfig> ModelConfigFromProto(const tfs::ModelConfig& m) {
  ModelConfig config;
  config.name = m.name();
  config.base_path = m.base_path();
  config.platform = m.model_platform();
  config.version_policy = PolicyFromProto(m.model_version_policy());
  config.version_labels.insert(m.version_labels().begin(), m.version_labels().end());
  RETURN_IF_ERROR(ValidateModelConfig(config));
  return config;
}

}  // namespace

bool ModelConfig::operator==(const ModelConfig& other) const {
  return name == other.name && base_path == other.base_path && platform == other.platform &&
         version_policy.kind == other.version_policy.kind &&
         version_policy.num_versions == other.version_policy.num_versions &&
         version_policy.versions == other.version_policy.versions &&
         version_labels == other.version_labels;
}

Status ValidateModelConfig(const ModelConfig& config) {
  if (config.name.empty()) return absl::InvalidArgumentError("a model config has no name");
  auto error = [&](const std::string& message) {
    return absl::InvalidArgumentError(absl::StrCat("model '", config.name, "': ", message));
  };
  if (config.base_path.empty()) return error("base_path is empty");
  if (!config.platform.empty() && std::find(std::begin(kPlatforms), std::end(kPlatforms),
                                            config.platform) == std::end(kPlatforms)) {
    return error(absl::StrCat("unknown model_platform '", config.platform, "' (supported: ",
                              absl::StrJoin(kPlatforms, ", "), ", or empty to detect it)"));
  }
  Status policy = config.version_policy.Validate();
  if (!policy.ok()) return error(std::string(policy.message()));
  for (const auto& [label, version] : config.version_labels) {
    if (!IsLabel(label))
      return error(absl::StrCat("version label '", label, "' must match [A-Za-z0-9_]+"));
    if (version < 1)
      return error(absl::StrCat("version label '", label, "' points at version ", version));
  }
  return absl::OkStatus();
}

StatusOr<std::vector<ModelConfig>> ModelConfigsFromProto(const tfs::ModelServerConfig& proto) {
  if (proto.config_case() == tfs::ModelServerConfig::kCustomModelConfig) {
    return absl::UnimplementedError("custom_model_config is not supported; use model_config_list");
  }
  std::vector<ModelConfig> models;
  std::set<std::string> names;
  for (const tfs::ModelConfig& m : proto.model_config_list().config()) {
    ASSIGN_OR_RETURN(ModelConfig config, ModelConfigFromProto(m));
    if (!names.insert(config.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", config.name, "' is configured twice"));
    }
    models.push_back(std::move(config));
  }
  return models;
}

StatusOr<std::vector<ModelConfig>> ParseModelServerConfig(const std::string& text) {
  tfs::ModelServerConfig proto;
  RETURN_IF_ERROR(ParseTextProto(text, "model server config", &proto));
  return ModelConfigsFromProto(proto);
}

StatusOr<ModelConfig> ModelConfigFromJson(absl::string_view json, const std::string& name) {
  tfs::ModelConfig proto;
  RETURN_IF_ERROR(ModelConfigProtoFromJson(json, &proto));
  if (!name.empty()) {
    if (!proto.name().empty() && proto.name() != name) {
      return absl::InvalidArgumentError(
          absl::StrCat("the config names model '", proto.name(), "', the request '", name, "'"));
    }
    proto.set_name(name);
  }
  return ModelConfigFromProto(proto);
}

}  // namespace servekit
