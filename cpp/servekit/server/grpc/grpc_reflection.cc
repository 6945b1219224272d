#include "servekit/server/grpc/grpc_reflection.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <set>
#include <vector>

#include "servekit/proto/grpc/reflection.pb.h"

namespace servekit {
namespace {

namespace reflection = grpc::reflection::v1alpha;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

constexpr char kReflectionService[] = "grpc.reflection.v1alpha.ServerReflection";

// `file` and every file it imports, each once, dependencies first.
void AddFileWithDependencies(const FileDescriptor* file, std::set<const FileDescriptor*>* seen,
                             reflection::FileDescriptorResponse* out) {
  if (!seen->insert(file).second) return;
  for (int i = 0; i < file->dependency_count(); ++i)
    AddFileWithDependencies(file->dependency(i), seen, out);
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out->add_file_descriptor_proto());
}

void Answer(const reflection::ServerReflectionRequest& request,
            const std::vector<std::string>& services,
            reflection::ServerReflectionResponse* response) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  response->set_valid_host(request.host());
  *response->mutable_original_request() = request;
  const FileDescriptor* file = nullptr;
  std::string missing;
  switch (request.message_request_case()) {
    case reflection::ServerReflectionRequest::kListServices:
      for (const std::string& name : services)
        response->mutable_list_services_response()->add_service()->set_name(name);
      return;
    case reflection::ServerReflectionRequest::kFileByFilename:
      file = pool->FindFileByName(request.file_by_filename());
      missing = "file " + request.file_by_filename();
      break;
    case reflection::ServerReflectionRequest::kFileContainingSymbol:
      file = pool->FindFileContainingSymbol(request.file_containing_symbol());
      missing = "symbol " + request.file_containing_symbol();
      break;
    case reflection::ServerReflectionRequest::kFileContainingExtension: {
      const auto& wanted = request.file_containing_extension();
      if (const auto* type = pool->FindMessageTypeByName(wanted.containing_type())) {
        if (const auto* extension = pool->FindExtensionByNumber(type, wanted.extension_number())) {
          file = extension->file();
        }
      }
      missing = "extension " + std::to_string(wanted.extension_number()) + " of " +
                wanted.containing_type();
      break;
    }
    case reflection::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const auto* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        response->mutable_error_response()->set_error_code(
            static_cast<int>(absl::StatusCode::kNotFound));
        response->mutable_error_response()->set_error_message(
            "type not found: " + request.all_extension_numbers_of_type());
        return;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response->mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const auto* extension : extensions) numbers->add_extension_number(extension->number());
      return;
    }
    case reflection::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      response->mutable_error_response()->set_error_code(
          static_cast<int>(absl::StatusCode::kInvalidArgument));
      response->mutable_error_response()->set_error_message("the request names nothing to look up");
      return;
  }
  if (file == nullptr) {
    response->mutable_error_response()->set_error_code(
        static_cast<int>(absl::StatusCode::kNotFound));
    response->mutable_error_response()->set_error_message("not found: " + missing);
    return;
  }
  std::set<const FileDescriptor*> seen;
  AddFileWithDependencies(file, &seen, response->mutable_file_descriptor_response());
}

// One ServerReflectionInfo call: an answer per request, in order.
class ReflectionCall final : public GrpcStreamHandler {
 public:
  ReflectionCall(const std::vector<std::string>* services, std::shared_ptr<GrpcCallWriter> writer)
      : services_(services), writer_(std::move(writer)) {}

  void OnMessage(absl::string_view bytes) override {
    reflection::ServerReflectionRequest request;
    if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      writer_->Finish(
          absl::InvalidArgumentError("the request is not a valid ServerReflectionRequest"));
      return;
    }
    reflection::ServerReflectionResponse response;
    Answer(request, *services_, &response);
    writer_->Write(response.SerializeAsString());
  }
  void OnHalfClose() override { writer_->Finish(absl::OkStatus()); }
  void OnCancel() override {}

 private:
  const std::vector<std::string>* const services_;
  const std::shared_ptr<GrpcCallWriter> writer_;
};

}  // namespace

void AddReflection(GrpcMethodTable* methods) {
  std::set<std::string> names = {kReflectionService};
  for (const auto& [path, method] : *methods) {
    // "/package.Service/Method" → "package.Service"
    const size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 1) names.insert(path.substr(1, slash - 1));
  }
  auto services = std::make_shared<const std::vector<std::string>>(names.begin(), names.end());
  GrpcMethod method;
  method.streaming =
      [services](std::shared_ptr<GrpcCallWriter> writer) -> std::unique_ptr<GrpcStreamHandler> {
    // The call keeps `services` alive through the method table's copy.
    return std::make_unique<ReflectionCall>(services.get(), std::move(writer));
  };
  (*methods)[std::string("/") + kReflectionService + "/ServerReflectionInfo"] = std::move(method);
}

}  // namespace servekit
