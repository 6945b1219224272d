#include "servekit/serving/request_path.h"

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace servekit {
namespace {

// Inline lists: nothing here allocates for the usual handful of tensors.
using Tensors = absl::InlinedVector<Tensor, 2>;
using Flags = absl::InlinedVector<bool, 8>;

// The inputs in the signature's order, checked by name: none unknown, none
// twice, none missing.
StatusOr<Tensors> OrderInputs(const ModelSignature& signature, NamedTensors& named) {
  Tensors ordered(signature.inputs.size());
  Flags seen(signature.inputs.size(), false);
  for (NamedTensor& input : named) {
    ASSIGN_OR_RETURN(const TensorSpec* spec, FindInput(signature, input.name));
    const size_t index = spec - signature.inputs.data();
    if (seen[index])
      return absl::InvalidArgumentError(
          absl::StrCat("the request names input '", input.name, "' twice"));
    seen[index] = true;
    ordered[index] = std::move(input.tensor);
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("the request has no input '", signature.inputs[i].name,
                       "'; the model's inputs are {", SpecNames(signature.inputs), "}"));
    }
  }
  return ordered;
}

// Which outputs the answer holds, in signature order.
StatusOr<Flags> SelectOutputs(const ModelSignature& signature,
                              const std::vector<std::string>& filter) {
  Flags wanted(signature.outputs.size(), filter.empty());
  for (const std::string& name : filter) {
    ASSIGN_OR_RETURN(const TensorSpec* spec, FindOutput(signature, name));
    wanted[spec - signature.outputs.data()] = true;
  }
  return wanted;
}

Status CheckKind(RequestKind kind, const ModelSignature& signature) {
  switch (kind) {
    case RequestKind::kPredict:
      return absl::OkStatus();
    case RequestKind::kClassify:
      return CheckExampleApiSignature(ExampleApi::kClassify, signature.outputs);
    case RequestKind::kRegress:
      return CheckExampleApiSignature(ExampleApi::kRegress, signature.outputs);
  }
  return absl::InternalError("unknown request kind");
}

Status Infer(const ServerCore& core, const InferenceSpec& spec, InferenceCodec& codec,
             int64_t* served) {
  ASSIGN_OR_RETURN(ModelHandle handle, core.GetHandle(spec.model));
  *served = handle.version();
  const std::string named = codec.SignatureNameInBody();
  ASSIGN_OR_RETURN(ModelSignature signature,
                   FindSignature(handle.model(), named.empty() ? spec.signature_name : named));
  RETURN_IF_ERROR(CheckKind(spec.kind, signature));
  InferenceInputs inputs;
  RETURN_IF_ERROR(codec.DecodeInputs(signature, &inputs));
  if (!inputs.signature_name.empty() && inputs.signature_name != signature.name) {
    // The body named another signature in a way SignatureNameInBody missed
    // (an escaped key): decode again for that one.
    ASSIGN_OR_RETURN(signature, FindSignature(handle.model(), inputs.signature_name));
    RETURN_IF_ERROR(CheckKind(spec.kind, signature));
    inputs = InferenceInputs();
    RETURN_IF_ERROR(codec.DecodeInputs(signature, &inputs));
  }
  ASSIGN_OR_RETURN(Tensors ordered, OrderInputs(signature, inputs.tensors));
  ASSIGN_OR_RETURN(Flags wanted, SelectOutputs(signature, inputs.output_filter));
  ASSIGN_OR_RETURN(std::vector<Tensor> outputs, signature.session->Run(ordered));
  ordered.clear();  // the inputs' memory goes back before the answer is built
  NamedTensors answer;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (wanted[i]) answer.push_back(NamedTensor{signature.outputs[i].name, std::move(outputs[i])});
  }
  return codec.EncodeOutputs(signature, handle.version(), std::move(answer));
}

}  // namespace

Status RunInference(const ServerCore& core, const InferenceSpec& spec, InferenceCodec& codec) {
  const absl::Time started = absl::Now();
  int64_t served = 0;
  const Status status = Infer(core, spec, codec, &served);
  core.RecordRequest(spec.model.name, served, spec.api, status.code(), absl::Now() - started);
  return status;
}

StatusOr<ModelMetadata> GetModelMetadata(const ServerCore& core, const ModelSpec& spec,
                                         const std::string& api) {
  const absl::Time started = absl::Now();
  StatusOr<ModelHandle> handle = core.GetHandle(spec);
  if (!api.empty()) {
    core.RecordRequest(spec.name, handle.ok() ? handle->version() : 0, api, handle.status().code(),
                       absl::Now() - started);
  }
  if (!handle.ok()) return handle.status();
  std::vector<ModelSignature> signatures = SignaturesOf(handle->model());
  return ModelMetadata{*std::move(handle), std::move(signatures)};
}

}  // namespace servekit
