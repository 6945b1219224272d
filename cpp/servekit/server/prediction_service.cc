#include "servekit/server/prediction_service.h"

#include <set>

#include "absl/strings/str_join.h"
#include "servekit/server/example_inputs.h"
#include "servekit/server/grpc_util.h"
#include "servekit/server/predict_json.h"
#include "servekit/server/tensor_proto_codec.h"

namespace servekit {
namespace {

namespace tfs = tensorflow::serving;

constexpr char kSignatureDefField[] = "signature_def";

// Runs `body` for one request and counts it in the core's metrics.
template <typename Body>
Status Counted(ServerCore* core, const std::string& model, const char* api, Body body) {
  const absl::Time started = absl::Now();
  int64_t version = 0;
  const Status status = body(&version);
  core->RecordRequest(model, version, api, status.code(), absl::Now() - started);
  return status;
}

std::string Names(const std::vector<TensorSpec>& specs) {
  return absl::StrJoin(specs, ", ", [](std::string* out, const TensorSpec& s) { absl::StrAppend(out, s.name); });
}

// Element i of a float32 or float64 output, as float (the proto's type).
float FloatAt(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kFloat32 ? t.data<float>()[i] : static_cast<float>(t.data<double>()[i]);
}

void FillTensorInfo(const TensorSpec& spec, tensorflow::TensorInfo* info) {
  info->set_name(spec.name);
  info->set_dtype(ToTfDataType(spec.dtype));
  for (const Dim& dim : spec.shape) info->mutable_tensor_shape()->add_dim()->set_size(dim.is_fixed() ? dim.value() : -1);
}

}  // namespace

Status PredictionServiceImpl::Predict(const tfs::PredictRequest& request, tfs::PredictResponse* response) const {
  return Counted(core_, request.model_spec().name(), "grpc_predict", [&](int64_t* served) -> Status {
    ASSIGN_OR_RETURN(ModelSpec spec, ModelSpecFromProto(request.model_spec()));
    RETURN_IF_ERROR(CheckSignatureName(request.model_spec().signature_name()));
    ASSIGN_OR_RETURN(ModelHandle handle, core_->GetHandle(spec));
    *served = handle.version();
    const Session& session = handle.session();
    // Every input named, none unknown.
    for (const auto& input : request.inputs()) {
      // Not a structured binding: C++17 lambdas cannot capture one (clang refuses it).
      const std::string& name = input.first;
      const bool known = std::any_of(session.inputs().begin(), session.inputs().end(),
                                     [&](const TensorSpec& s) { return s.name == name; });
      if (!known) {
        return absl::InvalidArgumentError(absl::StrCat("input tensor alias not found in signature: ", name,
                                                       ". Inputs expected to be in the set {",
                                                       Names(session.inputs()), "}."));
      }
    }
    std::vector<Tensor> inputs;
    int64_t remaining = max_request_elements_;
    for (const TensorSpec& input : session.inputs()) {
      auto it = request.inputs().find(input.name);
      if (it == request.inputs().end()) {
        return absl::InvalidArgumentError(absl::StrCat("the request has no input '", input.name,
                                                       "'; the model's inputs are {", Names(session.inputs()), "}"));
      }
      StatusOr<Tensor> tensor = TensorFromProto(it->second, input, remaining);
      if (!tensor.ok()) {
        return absl::Status(tensor.status().code(), absl::StrCat("input '", input.name, "': ", tensor.status().message()));
      }
      remaining -= tensor->num_elements();
      inputs.push_back(*std::move(tensor));
    }
    std::set<std::string> wanted(request.output_filter().begin(), request.output_filter().end());
    for (const std::string& name : wanted) {
      const bool known = std::any_of(session.outputs().begin(), session.outputs().end(),
                                     [&](const TensorSpec& s) { return s.name == name; });
      if (!known) {
        return absl::InvalidArgumentError(absl::StrCat("output tensor alias not found in signature: ", name,
                                                       ". Outputs expected to be in the set {",
                                                       Names(session.outputs()), "}."));
      }
    }
    ASSIGN_OR_RETURN(std::vector<Tensor> outputs, session.Run(inputs));
    size_t response_bytes = 0;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (wanted.empty() || wanted.count(session.outputs()[i].name) != 0) response_bytes += outputs[i].num_bytes();
    }
    if (response_bytes > max_response_bytes_) {
      return absl::ResourceExhaustedError(absl::StrCat("the response would hold ", response_bytes,
                                                       " bytes of tensors, more than the maximum message size (",
                                                       max_response_bytes_, " bytes)"));
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string& name = session.outputs()[i].name;
      if (!wanted.empty() && wanted.count(name) == 0) continue;
      TensorToProto(outputs[i], &(*response->mutable_outputs())[name]);
    }
    FillModelSpec(request.model_spec().name(), handle.version(), response->mutable_model_spec());
    return absl::OkStatus();
  });
}

Status PredictionServiceImpl::GetModelMetadata(const tfs::GetModelMetadataRequest& request, tfs::GetModelMetadataResponse* response) const {
  return Counted(core_, request.model_spec().name(), "grpc_metadata", [&](int64_t* served) -> Status {
    if (request.metadata_field_size() == 0) {
      return absl::InvalidArgumentError("GetModelMetadataRequest must specify at least one metadata_field");
    }
    for (const std::string& field : request.metadata_field()) {
      if (field != kSignatureDefField) {
        return absl::InvalidArgumentError(absl::StrCat("Metadata field ", field, " is not supported"));
      }
    }
    ASSIGN_OR_RETURN(ModelSpec spec, ModelSpecFromProto(request.model_spec()));
    ASSIGN_OR_RETURN(ModelHandle handle, core_->GetHandle(spec));
    *served = handle.version();
    tfs::SignatureDefMap signatures;
    tensorflow::SignatureDef& signature = (*signatures.mutable_signature_def())[kDefaultSignatureName];
    for (const TensorSpec& s : handle.session().inputs()) FillTensorInfo(s, &(*signature.mutable_inputs())[s.name]);
    for (const TensorSpec& s : handle.session().outputs()) FillTensorInfo(s, &(*signature.mutable_outputs())[s.name]);
    signature.set_method_name(kPredictMethodName);
    (*response->mutable_metadata())[kSignatureDefField].PackFrom(signatures);
    FillModelSpec(request.model_spec().name(), handle.version(), response->mutable_model_spec());
    response->mutable_model_spec()->clear_signature_name();
    return absl::OkStatus();
  });
}

Status PredictionServiceImpl::Classify(const tfs::ClassificationRequest& request, tfs::ClassificationResponse* response) const {
  return Counted(core_, request.model_spec().name(), "grpc_classify", [&](int64_t* served) -> Status {
    ASSIGN_OR_RETURN(Tensor scores, RunExamples(ExampleApi::kClassify, request.model_spec(), request.input(), served));
    const int64_t rows = scores.dim(0), classes = scores.dim(1);
    for (int64_t r = 0; r < rows; ++r) {
      tfs::Classifications* row = response->mutable_result()->add_classifications();
      for (int64_t k = 0; k < classes; ++k) {
        tfs::Class* c = row->add_classes();
        c->set_label(std::to_string(k));
        c->set_score(FloatAt(scores, r * classes + k));
      }
    }
    FillModelSpec(request.model_spec().name(), *served, response->mutable_model_spec());
    return absl::OkStatus();
  });
}

Status PredictionServiceImpl::Regress(const tfs::RegressionRequest& request, tfs::RegressionResponse* response) const {
  return Counted(core_, request.model_spec().name(), "grpc_regress", [&](int64_t* served) -> Status {
    ASSIGN_OR_RETURN(Tensor values, RunExamples(ExampleApi::kRegress, request.model_spec(), request.input(), served));
    for (int64_t r = 0; r < values.num_elements(); ++r) {
      response->mutable_result()->add_regressions()->set_value(FloatAt(values, r));
    }
    FillModelSpec(request.model_spec().name(), *served, response->mutable_model_spec());
    return absl::OkStatus();
  });
}

StatusOr<Tensor> PredictionServiceImpl::RunExamples(ExampleApi api, const tfs::ModelSpec& model_spec,
                                                    const tfs::Input& input, int64_t* served) const {
  ASSIGN_OR_RETURN(ModelSpec spec, ModelSpecFromProto(model_spec));
  RETURN_IF_ERROR(CheckSignatureName(model_spec.signature_name()));
  ASSIGN_OR_RETURN(ModelHandle handle, core_->GetHandle(spec));
  *served = handle.version();
  const Session& session = handle.session();
  RETURN_IF_ERROR(CheckExampleApiSignature(api, session.outputs()));
  ASSIGN_OR_RETURN(std::vector<Tensor> inputs, TensorsFromExamples(input, session.inputs(), max_request_elements_));
  ASSIGN_OR_RETURN(std::vector<Tensor> outputs, session.Run(inputs));
  return std::move(outputs[0]);  // owned: outlives the handle
}

Status PredictionServiceImpl::MultiInference(const tfs::MultiInferenceRequest&, tfs::MultiInferenceResponse*) const {
  return absl::UnimplementedError("servekit does not implement MultiInference; call Classify, Regress or Predict");
}

}  // namespace servekit
