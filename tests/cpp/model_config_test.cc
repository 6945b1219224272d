#include "servekit/serving/model_config.h"

#include <gtest/gtest.h>

namespace servekit {
namespace {

bool HasError(const StatusOr<std::vector<ModelConfig>>& result, absl::StatusCode code,
              absl::string_view text) {
  return !result.ok() && result.status().code() == code &&
         result.status().message().find(text) != absl::string_view::npos;
}
bool HasError(const StatusOr<ModelConfig>& result, absl::StatusCode code, absl::string_view text) {
  return !result.ok() && result.status().code() == code &&
         result.status().message().find(text) != absl::string_view::npos;
}

TEST(ModelConfigTest, ParsesTfServingTextFormat) {
  auto models = ParseModelServerConfig(R"pb(
    model_config_list {
      config {
        name: "mnist"
        base_path: "/models/mnist"
        model_platform: "onnx"
        model_version_policy { specific { versions: 1 versions: 2 } }
        version_labels { key: "stable" value: 1 }
        version_labels { key: "canary" value: 2 }
      }
      config {
        name: "digits"
        base_path: "/models/digits"
        model_version_policy { latest { num_versions: 2 } }
      }
      config {
        name: "all_of_them"
        base_path: "/m/a"
        model_version_policy { all {} }
      }
      config { name: "defaults" base_path: "/m/d" }
    }
  )pb");
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 4u);
  const ModelConfig& mnist = (*models)[0];
  EXPECT_EQ(mnist.name, "mnist");
  EXPECT_EQ(mnist.base_path, "/models/mnist");
  EXPECT_EQ(mnist.platform, "onnx");
  EXPECT_EQ(mnist.version_policy.kind, ModelVersionPolicy::Kind::kSpecific);
  EXPECT_EQ(mnist.version_policy.versions, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(mnist.version_labels, (std::map<std::string, int64_t>{{"stable", 1}, {"canary", 2}}));
  EXPECT_EQ((*models)[1].version_policy.kind, ModelVersionPolicy::Kind::kLatest);
  EXPECT_EQ((*models)[1].version_policy.num_versions, 2);
  EXPECT_EQ((*models)[1].platform, "");
  EXPECT_EQ((*models)[2].version_policy.kind, ModelVersionPolicy::Kind::kAll);
  // No policy, or latest without num_versions: the newest single version.
  EXPECT_EQ((*models)[3].version_policy.kind, ModelVersionPolicy::Kind::kLatest);
  EXPECT_EQ((*models)[3].version_policy.num_versions, 1);
  auto latest_default = ParseModelServerConfig(
      "model_config_list { config { name: 'a' base_path: '/a' model_version_policy { latest {} } } "
      "}");
  ASSERT_TRUE(latest_default.ok()) << latest_default.status();
  EXPECT_EQ((*latest_default)[0].version_policy.num_versions, 1);
}

TEST(ModelConfigTest, AnEmptyConfigHasNoModels) {
  auto models = ParseModelServerConfig("");
  ASSERT_TRUE(models.ok()) << models.status();
  EXPECT_TRUE(models->empty());
}

TEST(ModelConfigTest, SyntaxErrorsGiveTheirPosition) {
  EXPECT_TRUE(HasError(ParseModelServerConfig("model_config_list {\n  config { name: 'a' \n"),
                       absl::StatusCode::kInvalidArgument, "line 3"));
  EXPECT_TRUE(HasError(ParseModelServerConfig("model_config_list { config { nme: 'a' } }"),
                       absl::StatusCode::kInvalidArgument, "nme"));
  // logging_config is TF Serving's but not implemented here: refused by name.
  EXPECT_TRUE(
      HasError(ParseModelServerConfig("model_config_list { config { name: 'a' base_path: '/a' "
                                      "logging_config {} } }"),
               absl::StatusCode::kInvalidArgument, "logging_config"));
}

TEST(ModelConfigTest, InvalidModelsAreNamed) {
  using C = absl::StatusCode;
  EXPECT_TRUE(HasError(ParseModelServerConfig("model_config_list { config { base_path: '/a' } }"),
                       C::kInvalidArgument, "has no name"));
  EXPECT_TRUE(HasError(ParseModelServerConfig("model_config_list { config { name: 'a' } }"),
                       C::kInvalidArgument, "model 'a': base_path is empty"));
  EXPECT_TRUE(HasError(
      ParseModelServerConfig(
          "model_config_list { config { name: 'a' base_path: '/a' model_platform: 'pytorch' } }"),
      C::kInvalidArgument, "unknown model_platform 'pytorch'"));
  EXPECT_TRUE(
      HasError(ParseModelServerConfig("model_config_list { config { name: 'a' base_path: '/a' } "
                                      "config { name: 'a' base_path: '/b' } }"),
               C::kInvalidArgument, "model 'a' is configured twice"));
  EXPECT_TRUE(
      HasError(ParseModelServerConfig("model_config_list { config { name: 'a' base_path: '/a' "
                                      "model_version_policy { specific {} } } }"),
               C::kInvalidArgument, "specific {} must name at least one version"));
  EXPECT_TRUE(
      HasError(ParseModelServerConfig("model_config_list { config { name: 'a' base_path: '/a' "
                                      "version_labels { key: 'bad-label' value: 1 } } }"),
               C::kInvalidArgument, "'bad-label' must match"));
  EXPECT_TRUE(
      HasError(ParseModelServerConfig("model_config_list { config { name: 'a' base_path: '/a' "
                                      "version_labels { key: 'stable' value: 0 } } }"),
               C::kInvalidArgument, "points at version 0"));
  EXPECT_TRUE(HasError(ParseModelServerConfig("custom_model_config { }"), C::kUnimplemented,
                       "custom_model_config"));
}

TEST(ModelConfigTest, TensorflowPlatformIsAcceptedAndReserved) {
  auto models = ParseModelServerConfig(
      "model_config_list { config { name: 'tf' base_path: '/tf' model_platform: 'tensorflow' } }");
  ASSERT_TRUE(models.ok()) << models.status();
  EXPECT_EQ((*models)[0].platform, "tensorflow");
}

TEST(ModelConfigTest, JsonAndTextFormatReadTheSameConfig) {
  auto text = ParseModelServerConfig(
      "model_config_list { config { name: 'm' base_path: '/m' model_platform: 'onnx' "
      "model_version_policy { specific { versions: 1 versions: 3 } } version_labels { key: "
      "'stable' value: 1 } } }");
  ASSERT_TRUE(text.ok()) << text.status();
  auto json = ModelConfigFromJson(
      R"({"base_path": "/m", "model_platform": "onnx",
          "model_version_policy": {"specific": {"versions": [1, 3]}},
          "version_labels": {"stable": 1}})",
      "m");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, (*text)[0]);
  auto named_inside = ModelConfigFromJson(
      R"({"name": "m", "base_path": "/m", "model_version_policy": {"all": {}}})", "");
  ASSERT_TRUE(named_inside.ok()) << named_inside.status();
  EXPECT_EQ(named_inside->version_policy.ToString(), ModelVersionPolicy::All().ToString());
  auto latest = ModelConfigFromJson(
      R"({"base_path": "/m", "model_version_policy": {"latest": {"num_versions": 2}}})", "m");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->version_policy.ToString(), ModelVersionPolicy::Latest(2).ToString());
}

TEST(ModelConfigTest, JsonErrorsSayWhatIsWrong) {
  using C = absl::StatusCode;
  EXPECT_TRUE(HasError(ModelConfigFromJson(R"({"base_path": 3})", "m"), C::kInvalidArgument,
                       "'base_path' must be a string"));
  EXPECT_TRUE(HasError(ModelConfigFromJson(R"({"base_path": "/m", "colour": 1})", "m"),
                       C::kInvalidArgument, "unknown model config key 'colour'"));
  EXPECT_TRUE(
      HasError(ModelConfigFromJson(R"({"base_path": "/m", "version_labels": {"a": 1.5}})", "m"),
               C::kInvalidArgument, "label versions must be integers"));
  EXPECT_TRUE(HasError(
      ModelConfigFromJson(R"({"base_path": "/m", "model_version_policy": {"newest": {}}})", "m"),
      C::kInvalidArgument, "unknown version policy 'newest'"));
  EXPECT_TRUE(HasError(
      ModelConfigFromJson(
          R"({"base_path": "/m", "model_version_policy": {"latest": {"num_versions": 0}}})", "m"),
      C::kInvalidArgument, "num_versions"));
  EXPECT_TRUE(HasError(ModelConfigFromJson(R"({"name": "a", "base_path": "/m"})", "b"),
                       C::kInvalidArgument, "the config names model 'a', the request 'b'"));
  EXPECT_TRUE(
      HasError(ModelConfigFromJson(R"({"base_path": "/m"})", ""), C::kInvalidArgument, "name"));
  EXPECT_TRUE(HasError(ModelConfigFromJson("[1", "m"), C::kInvalidArgument, ""));
}

}  // namespace
}  // namespace servekit
