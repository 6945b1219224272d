#include "servekit/server/rest/rest_api.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "serving_test_util.h"

namespace servekit {
namespace {

class RestApiTest : public ::testing::Test {
 protected:
  RestApiTest() {
    test::PublishVersion(dir_.path() / "m", 1);
    test::PublishVersion(dir_.path() / "m", 2);
    ServerCoreOptions o;
    o.load = test::LoadVersionFromDisk;
    o.file_system_poll_wait = absl::ZeroDuration();
    core_ = std::make_unique<ServerCore>(o);
    ModelConfig config;
    config.name = "m";
    config.base_path = (dir_.path() / "m").string();
    config.version_policy = ModelVersionPolicy::All();
    config.version_labels = {{"stable", 1}};
    EXPECT_TRUE(core_->ReloadConfig({config}).ok());
  }
  HttpResponse Call(absl::string_view method, absl::string_view target, absl::string_view body = "",
                    bool management = false) {
    RestApiOptions options;
    options.enable_model_management = management;
    RestApi api(core_.get(), options, [] { return int64_t{3}; });
    HttpResponse response;
    api.Handle(HttpRequest{method, target, body}, &response);
    return response;
  }

  test::TempDir dir_;
  std::unique_ptr<ServerCore> core_;
};

TEST_F(RestApiTest, StatusFollowsTfServingsJson) {
  HttpResponse r = Call("GET", "/v1/models/m/versions/2");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"model_version_status":[{"version":"2","state":"AVAILABLE",)"
                    R"("status":{"error_code":"OK","error_message":""}}]})");
  EXPECT_TRUE(
      absl::StrContains(Call("GET", "/V1/Models/m/labels/stable").body, R"("version":"1")"));
  EXPECT_EQ(Call("GET", "/v1/models/m/versions/5").status, 404);
  EXPECT_EQ(Call("GET", "/v1/models/x").status, 404);
}

TEST_F(RestApiTest, PredictRunsTheSelectedVersion) {
  // VersionedModel: y = x + version, x of shape [N, 1].
  HttpResponse r =
      Call("POST", "/v1/models/m/labels/stable:predict", R"({"instances": [[1.0], [2.0]]})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"predictions":[[2.0],[3.0]]})");
  r = Call("POST", "/v1/models/m:predict?ignored=1", R"({"inputs": [[1.0]]})");
  EXPECT_EQ(r.body, R"({"outputs":[[3.0]]})");
  EXPECT_EQ(Call("POST", "/v1/models/m:predict", "{").status, 400);
}

TEST_F(RestApiTest, RoutesThatDoNotExist) {
  HttpResponse r = Call("DELETE", "/v1/models/m");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"Malformed request: DELETE /v1/models/m"})");
  EXPECT_EQ(Call("GET", "/elsewhere").status, 404);
  EXPECT_EQ(Call("POST", "/v1/models/m/versions/1/labels/x:predict", "{}").status, 400);
  EXPECT_EQ(Call("POST", "/v1/models/m:remove").status, 403);
  EXPECT_EQ(Call("POST", "/v1/models/m:remove", "", /*management=*/true).status, 200);
}

TEST_F(RestApiTest, HealthAndMetrics) {
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/health/live").body, "");
  HttpResponse metrics = Call("GET", "/monitoring/prometheus/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(absl::StartsWith(metrics.content_type, "text/plain"));
  EXPECT_TRUE(absl::StrContains(metrics.body, "servekit_requests_in_flight 3\n")) << metrics.body;
  EXPECT_TRUE(
      absl::StrContains(metrics.body, "servekit_model_loads_total{model=\"m\",version=\"2\"} 1\n"));
}

TEST(HttpStatusForTest, FollowsTfServing) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
}

}  // namespace
}  // namespace servekit
