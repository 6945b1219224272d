#include "servekit/server/rest/json_inference_codec.h"

#include <optional>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "servekit/server/rest/json_request.h"
#include "servekit/server/rest/json_response.h"

namespace servekit {

Status JsonInferenceCodec::DecodeInputs(const ModelSignature& signature, InferenceInputs* inputs) {
  ASSIGN_OR_RETURN(JsonPredictRequest request,
                   kind_ == RequestKind::kPredict
                       ? ParsePredictRequest(body_, signature.inputs, max_request_values_)
                       : ParseExamplesRequest(body_, signature.inputs, max_request_values_));
  row_format_ = request.row_format;
  inputs->signature_name = std::move(request.signature_name);
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    inputs->tensors.push_back(NamedTensor{signature.inputs[i].name, std::move(request.inputs[i])});
  }
  return absl::OkStatus();
}

std::string JsonInferenceCodec::SignatureNameInBody() {
  // Most bodies name no signature: only those that mention the key are parsed
  // for it (a second parse, for the few requests that pick a signature).
  if (body_.find("signature_name") == absl::string_view::npos) return std::string();
  return ReadBodySignatureName(body_);
}

Status JsonInferenceCodec::EncodeOutputs(const ModelSignature& signature, int64_t,
                                         NamedTensors outputs) {
  absl::InlinedVector<Tensor, 2> tensors;  // no list allocated for the usual one or two
  for (NamedTensor& output : outputs) tensors.push_back(std::move(output.tensor));
  std::optional<ExampleApi> api;
  if (kind_ == RequestKind::kClassify) api = ExampleApi::kClassify;
  if (kind_ == RequestKind::kRegress) api = ExampleApi::kRegress;
  const size_t answer_bound = JsonAnswerBytesBound(api, signature.outputs, tensors);
  if (answer_bound > max_response_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the answer could take up to ", answer_bound,
                     " bytes of JSON, more than the server's limit of ", max_response_bytes_,
                     " bytes (--max_response_bytes); send fewer instances per request"));
  }
  // The bound is a few dozen bytes per value: one allocation up front (none on
  // a recycled buffer) instead of the string doubling as the numbers go in.
  out_->reserve(out_->size() + answer_bound);
  if (api) {
    AppendExamplesResponse(*api, tensors[0], out_);
  } else {
    AppendPredictResponse(row_format_, signature.outputs, tensors, out_);
  }
  return absl::OkStatus();
}

}  // namespace servekit
