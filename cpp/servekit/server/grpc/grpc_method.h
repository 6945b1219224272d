// What the gRPC transport (grpc_connection) calls: a table of methods by path
// ("/package.Service/Method"), each either unary or streaming. Messages are
// serialized protobuf bytes; the typed wrappers below parse and serialize.
//
// Statuses are servekit Status: absl's codes are gRPC's codes, number for number.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/arena.h"
#include "servekit/util/status.h"

namespace servekit {

// A streaming call's way back to its client. Thread-safe; after Finish, or
// once the call has ended, every call does nothing.
class GrpcCallWriter {
 public:
  virtual ~GrpcCallWriter() = default;
  virtual void Write(std::string message) = 0;  // one serialized response message
  virtual void Finish(const Status& status) = 0;
};

// One streaming call. Its methods run on the connection's strand, one at a time.
class GrpcStreamHandler {
 public:
  virtual ~GrpcStreamHandler() = default;
  virtual void OnMessage(absl::string_view message) = 0;
  virtual void OnHalfClose() = 0;  // the client sent its last message
  // The call ended before Finish (client cancelled, connection lost or server
  // stopped); the writer no longer writes.
  virtual void OnCancel() = 0;
};

struct GrpcMethod {
  // Unary: one request, one response. Runs on a server thread, concurrently
  // with other calls.
  std::function<Status(absl::string_view request, std::string* response)> unary;
  // Streaming (client, server or both): a handler per call.
  std::function<std::unique_ptr<GrpcStreamHandler>(std::shared_ptr<GrpcCallWriter> writer)>
      streaming;
};

using GrpcMethodTable = absl::flat_hash_map<std::string, GrpcMethod>;

// The path gRPC clients send for a method: "/package.Service/Method".
inline std::string GrpcPath(absl::string_view service, absl::string_view method) {
  return absl::StrCat("/", service, "/", method);
}

// Runs one call's handler code: an exception fails that call (INTERNAL, or
// RESOURCE_EXHAUSTED when memory ran out), never the server.
template <typename Fn>
Status GuardedCall(Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("the server ran out of memory for this call");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("internal error: ", e.what()));
  } catch (...) {
    return absl::InternalError("internal error");
  }
}

// The first block of a unary call's protobuf arena, on the calling thread's
// stack: a PredictRequest's messages (its inputs map, each TensorProto and
// its shape's dims, the ModelSpec) and a small answer's fit in it, so that
// parsing and building them costs no malloc each. Bigger messages continue
// in heap blocks, freed with the arena; string fields' bytes (tensor_content)
// are on the heap either way.
inline constexpr size_t kUnaryArenaFirstBlockBytes = 8 << 10;

// A unary method from a typed handler.
template <typename Request, typename Response, typename Fn>
GrpcMethod TypedUnary(Fn fn) {
  GrpcMethod method;
  method.unary = [fn = std::move(fn)](absl::string_view bytes, std::string* out) -> Status {
    return GuardedCall([&]() -> Status {
      alignas(std::max_align_t) char first_block[kUnaryArenaFirstBlockBytes];
      google::protobuf::ArenaOptions options;
      options.initial_block = first_block;
      options.initial_block_size = sizeof(first_block);
      google::protobuf::Arena arena(options);
      auto* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
      if (!request->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the request is not a valid ", Request::descriptor()->full_name(), " message"));
      }
      auto* response = google::protobuf::Arena::CreateMessage<Response>(&arena);
      RETURN_IF_ERROR(fn(*request, response));
      if (!response->SerializeToString(out))
        return absl::InternalError("cannot serialize the response");
      return absl::OkStatus();
    });
  };
  return method;
}

}  // namespace servekit
