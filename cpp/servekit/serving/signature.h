// Signatures: what a served model version takes and returns, the one place
// that knows it for every transport (REST, gRPC, Python).
//
// A version's signatures are its LoadedModel's (formats/loaded_model.h): an
// ONNX version has one, serving_default; a SavedModel its signature_defs. A
// request names one or leaves the name empty for serving_default, as in TF
// Serving. Classify and regress (TF Serving's example-based APIs) apply to
// signatures whose outputs fit them (below).
//
// A ModelSignature views the version's LoadedModel: valid while the request
// holds that version's ModelHandle. Stateless functions; thread-safe.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "servekit/engine/session.h"
#include "servekit/formats/loaded_model.h"
#include "servekit/formats/tf_data_type.h"  // TfDataTypeName, for the transports
#include "servekit/util/dtype.h"
#include "servekit/util/status.h"

namespace servekit {

struct ModelSignature {
  absl::string_view name;         // e.g. kDefaultSignatureName
  absl::string_view method_name;  // e.g. kPredictMethodName
  absl::Span<const TensorSpec> inputs;
  absl::Span<const TensorSpec> outputs;
  const Session* session = nullptr;  // computes it; never null
};

// The signature a request names (`signature_name` "" is the default) among the
// version's; InvalidArgument, in TF Serving's words, if it has none by that name.
StatusOr<ModelSignature> FindSignature(const LoadedModel& model, const std::string& signature_name);

// The version's signatures, for metadata.
std::vector<ModelSignature> SignaturesOf(const LoadedModel& model);

// The input named `name`, or InvalidArgument listing the signature's inputs
// (TF Serving's message for an unknown input alias).
StatusOr<const TensorSpec*> FindInput(const ModelSignature& signature, absl::string_view name);
// The output named `name`, or InvalidArgument listing the signature's outputs.
StatusOr<const TensorSpec*> FindOutput(const ModelSignature& signature, absl::string_view name);
// "a, b, c": the specs' names, for messages.
std::string SpecNames(absl::Span<const TensorSpec> specs);

// TF Serving's example-based APIs. Classify fits a version with one float
// output of shape [N, K] (scores); regress one float output of shape [N] or
// [N, 1]. InvalidArgument naming the API and the outputs otherwise.
enum class ExampleApi { kClassify, kRegress };
Status CheckExampleApiSignature(ExampleApi api, absl::Span<const TensorSpec> output_specs);

}  // namespace servekit
