#include "servekit/server/grpc/prediction_service.h"

#include "servekit/formats/tf_tensor_proto.h"
#include "servekit/server/grpc/example_inputs.h"
#include "servekit/server/grpc/grpc_util.h"
#include "servekit/serving/request_path.h"

namespace servekit {
namespace {

namespace tfs = tensorflow::serving;

constexpr char kSignatureDefField[] = "signature_def";

StatusOr<InferenceSpec> SpecOf(const tfs::ModelSpec& proto, RequestKind kind, const char* api) {
  InferenceSpec spec;
  spec.api = api;
  spec.kind = kind;
  ASSIGN_OR_RETURN(spec.model, ModelSpecFromProto(proto));
  spec.signature_name = proto.signature_name();
  return spec;
}

// Runs a request, counting one refused before it reaches the request path too.
Status Run(const ServerCore& core, const tfs::ModelSpec& model_spec, RequestKind kind,
           const char* api, InferenceCodec& codec) {
  StatusOr<InferenceSpec> spec = SpecOf(model_spec, kind, api);
  if (!spec.ok()) {
    core.RecordRequest(model_spec.name(), 0, api, spec.status().code(), absl::ZeroDuration());
    return spec.status();
  }
  return RunInference(core, *spec, codec);
}

// Element i of a float32 or float64 output, as float (the proto's type).
float FloatAt(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kFloat32 ? t.data<float>()[i]
                                      : static_cast<float>(t.data<double>()[i]);
}

void FillTensorInfo(const TensorSpec& spec, tensorflow::TensorInfo* info) {
  info->set_name(spec.name);
  info->set_dtype(ToTfDataType(spec.dtype));
  for (const Dim& dim : spec.shape)
    info->mutable_tensor_shape()->add_dim()->set_size(dim.is_fixed() ? dim.value() : -1);
}

// Predict: TensorProtos by name in, by name out.
class PredictCodec : public InferenceCodec {
 public:
  PredictCodec(const tfs::PredictRequest& request, tfs::PredictResponse* response,
               int64_t max_request_values, size_t max_response_bytes)
      : request_(request),
        response_(response),
        max_request_values_(max_request_values),
        max_response_bytes_(max_response_bytes) {}

  Status DecodeInputs(const ModelSignature& signature, InferenceInputs* inputs) override {
    // Every name checked before anything is decoded: an unknown input is
    // refused whatever its size.
    for (const auto& input : request_.inputs())
      RETURN_IF_ERROR(FindInput(signature, input.first).status());
    int64_t remaining = max_request_values_;
    for (const TensorSpec& spec : signature.inputs) {
      auto it = request_.inputs().find(spec.name);
      if (it == request_.inputs().end()) continue;  // the request path names what is missing
      StatusOr<Tensor> tensor = TensorFromProto(it->second, spec, remaining);
      if (!tensor.ok()) {
        return absl::Status(tensor.status().code(),
                            absl::StrCat("input '", spec.name, "': ", tensor.status().message()));
      }
      remaining -= tensor->num_elements();
      inputs->tensors.push_back(NamedTensor{spec.name, *std::move(tensor)});
    }
    inputs->output_filter.assign(request_.output_filter().begin(), request_.output_filter().end());
    return absl::OkStatus();
  }

  Status EncodeOutputs(const ModelSignature& signature, int64_t version,
                       NamedTensors outputs) override {
    size_t response_bytes = 0;
    for (const NamedTensor& output : outputs) response_bytes += output.tensor.num_bytes();
    if (response_bytes > max_response_bytes_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the response would hold ", response_bytes,
                       " bytes of tensors, more than the maximum message size (",
                       max_response_bytes_, " bytes)"));
    }
    for (const NamedTensor& output : outputs) {
      TensorToProto(output.tensor, &(*response_->mutable_outputs())[output.name]);
    }
    FillModelSpec(request_.model_spec().name(), version, signature.name,
                  response_->mutable_model_spec());
    return absl::OkStatus();
  }

 private:
  const tfs::PredictRequest& request_;
  tfs::PredictResponse* const response_;
  const int64_t max_request_values_;
  const size_t max_response_bytes_;
};

// Classify and Regress: tf.Examples in, one batch row per example.
class ExamplesCodec : public InferenceCodec {
 public:
  ExamplesCodec(const tfs::Input& input, int64_t max_request_values)
      : input_(input), max_request_values_(max_request_values) {}

  Status DecodeInputs(const ModelSignature& signature, InferenceInputs* inputs) override {
    ASSIGN_OR_RETURN(std::vector<Tensor> tensors,
                     TensorsFromExamples(input_, signature.inputs, max_request_values_));
    for (size_t i = 0; i < tensors.size(); ++i) {
      inputs->tensors.push_back(NamedTensor{signature.inputs[i].name, std::move(tensors[i])});
    }
    return absl::OkStatus();
  }

 private:
  const tfs::Input& input_;
  const int64_t max_request_values_;
};

// The model's one output ([N, K] scores) as K classes per example.
class ClassifyCodec : public ExamplesCodec {
 public:
  ClassifyCodec(const tfs::ClassificationRequest& request, tfs::ClassificationResponse* response,
                int64_t max_request_values)
      : ExamplesCodec(request.input(), max_request_values),
        request_(request),
        response_(response) {}

  Status EncodeOutputs(const ModelSignature& signature, int64_t version,
                       NamedTensors outputs) override {
    const Tensor& scores = outputs.at(0).tensor;
    const int64_t rows = scores.dim(0), classes = scores.dim(1);
    for (int64_t r = 0; r < rows; ++r) {
      tfs::Classifications* row = response_->mutable_result()->add_classifications();
      for (int64_t k = 0; k < classes; ++k) {
        tfs::Class* c = row->add_classes();
        c->set_label(std::to_string(k));
        c->set_score(FloatAt(scores, r * classes + k));
      }
    }
    FillModelSpec(request_.model_spec().name(), version, signature.name,
                  response_->mutable_model_spec());
    return absl::OkStatus();
  }

 private:
  const tfs::ClassificationRequest& request_;
  tfs::ClassificationResponse* const response_;
};

// The model's one output ([N] or [N, 1]) as one value per example.
class RegressCodec : public ExamplesCodec {
 public:
  RegressCodec(const tfs::RegressionRequest& request, tfs::RegressionResponse* response,
               int64_t max_request_values)
      : ExamplesCodec(request.input(), max_request_values),
        request_(request),
        response_(response) {}

  Status EncodeOutputs(const ModelSignature& signature, int64_t version,
                       NamedTensors outputs) override {
    const Tensor& values = outputs.at(0).tensor;
    for (int64_t r = 0; r < values.num_elements(); ++r) {
      response_->mutable_result()->add_regressions()->set_value(FloatAt(values, r));
    }
    FillModelSpec(request_.model_spec().name(), version, signature.name,
                  response_->mutable_model_spec());
    return absl::OkStatus();
  }

 private:
  const tfs::RegressionRequest& request_;
  tfs::RegressionResponse* const response_;
};

}  // namespace

Status PredictionServiceImpl::Predict(const tfs::PredictRequest& request,
                                      tfs::PredictResponse* response) const {
  PredictCodec codec(request, response, max_request_elements_, max_response_bytes_);
  return Run(*core_, request.model_spec(), RequestKind::kPredict, "grpc_predict", codec);
}

Status PredictionServiceImpl::GetModelMetadata(const tfs::GetModelMetadataRequest& request,
                                               tfs::GetModelMetadataResponse* response) const {
  if (request.metadata_field_size() == 0) {
    return absl::InvalidArgumentError(
        "GetModelMetadataRequest must specify at least one metadata_field");
  }
  for (const std::string& field : request.metadata_field()) {
    if (field != kSignatureDefField) {
      return absl::InvalidArgumentError(
          absl::StrCat("Metadata field ", field, " is not supported"));
    }
  }
  ASSIGN_OR_RETURN(ModelSpec spec, ModelSpecFromProto(request.model_spec()));
  ASSIGN_OR_RETURN(ModelMetadata metadata,
                   servekit::GetModelMetadata(*core_, spec, "grpc_metadata"));
  tfs::SignatureDefMap signatures;
  for (const ModelSignature& s : metadata.signatures) {
    tensorflow::SignatureDef& signature =
        (*signatures.mutable_signature_def())[std::string(s.name)];
    for (const TensorSpec& t : s.inputs) FillTensorInfo(t, &(*signature.mutable_inputs())[t.name]);
    for (const TensorSpec& t : s.outputs)
      FillTensorInfo(t, &(*signature.mutable_outputs())[t.name]);
    signature.set_method_name(std::string(s.method_name));
  }
  (*response->mutable_metadata())[kSignatureDefField].PackFrom(signatures);
  FillModelSpec(request.model_spec().name(), metadata.handle.version(), "",
                response->mutable_model_spec());
  response->mutable_model_spec()->clear_signature_name();
  return absl::OkStatus();
}

Status PredictionServiceImpl::Classify(const tfs::ClassificationRequest& request,
                                       tfs::ClassificationResponse* response) const {
  ClassifyCodec codec(request, response, max_request_elements_);
  return Run(*core_, request.model_spec(), RequestKind::kClassify, "grpc_classify", codec);
}

Status PredictionServiceImpl::Regress(const tfs::RegressionRequest& request,
                                      tfs::RegressionResponse* response) const {
  RegressCodec codec(request, response, max_request_elements_);
  return Run(*core_, request.model_spec(), RequestKind::kRegress, "grpc_regress", codec);
}

Status PredictionServiceImpl::MultiInference(const tfs::MultiInferenceRequest&,
                                             tfs::MultiInferenceResponse*) const {
  return absl::UnimplementedError(
      "servekit does not implement MultiInference; call Classify, Regress or Predict");
}

}  // namespace servekit
