// gRPC method wrappers (server/grpc_method.h): typed unary methods and the
// guard that turns a handler's exception into that call's error.
#include "servekit/server/grpc/grpc_method.h"

#include <gtest/gtest.h>

#include <new>
#include <stdexcept>
#include <string>

#include "servekit/proto/grpc/health.pb.h"

namespace servekit {
namespace {

using Request = grpc::health::v1::HealthCheckRequest;
using Response = grpc::health::v1::HealthCheckResponse;

std::string Serialized(const std::string& service) {
  Request request;
  request.set_service(service);
  return request.SerializeAsString();
}

TEST(GrpcMethodTest, TypedUnaryParsesCallsAndSerializes) {
  GrpcMethod method = TypedUnary<Request, Response>([](const Request& request, Response* response) {
    response->set_status(request.service() == "up" ? Response::SERVING : Response::NOT_SERVING);
    return absl::OkStatus();
  });
  std::string out;
  ASSERT_TRUE(method.unary(Serialized("up"), &out).ok());
  Response response;
  ASSERT_TRUE(response.ParseFromString(out));
  EXPECT_EQ(response.status(), Response::SERVING);
  const Status garbage = method.unary("\xff\xff\xff", &out);
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(garbage.message().find("grpc.health.v1.HealthCheckRequest"), absl::string_view::npos)
      << garbage;
}

// Request and response live on one protobuf arena per call (no malloc per
// message); a request far past the arena's first block still parses whole.
TEST(GrpcMethodTest, TypedUnaryMessagesShareACallsArenaOfAnySize) {
  GrpcMethod method = TypedUnary<Request, Response>([](const Request& request, Response* response) {
    if (request.GetArena() == nullptr || response->GetArena() != request.GetArena()) {
      return absl::InternalError("not on one arena");
    }
    response->set_status(request.service() == std::string(100000, 's') ? Response::SERVING
                                                                       : Response::UNKNOWN);
    return absl::OkStatus();
  });
  for (int call = 0; call < 3; ++call) {
    std::string out;
    const Status status = method.unary(Serialized(std::string(100000, 's')), &out);
    ASSERT_TRUE(status.ok()) << status;
    Response response;
    ASSERT_TRUE(response.ParseFromString(out));
    EXPECT_EQ(response.status(), Response::SERVING);
  }
}

TEST(GrpcMethodTest, AHandlerThatThrowsFailsOnlyItsCall) {
  GrpcMethod method =
      TypedUnary<Request, Response>([](const Request& request, Response*) -> Status {
        if (request.service() == "oom") throw std::bad_alloc();
        if (request.service() == "bug") throw std::logic_error("broken invariant");
        if (request.service() == "odd") throw 7;
        return absl::OkStatus();
      });
  std::string out;
  EXPECT_EQ(method.unary(Serialized("oom"), &out).code(), absl::StatusCode::kResourceExhausted);
  const Status bug = method.unary(Serialized("bug"), &out);
  EXPECT_EQ(bug.code(), absl::StatusCode::kInternal);
  EXPECT_NE(bug.message().find("broken invariant"), absl::string_view::npos) << bug;
  EXPECT_EQ(method.unary(Serialized("odd"), &out).code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(method.unary(Serialized("fine"), &out).ok());
}

}  // namespace
}  // namespace servekit
