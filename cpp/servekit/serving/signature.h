// Signatures: what a served model version takes and returns, the one place
// that knows it for every transport (REST, gRPC, Python).
//
// Every servekit model version exposes one signature, named as TF Serving
// names its default ("serving_default") with the predict method; requests may
// name it or leave the name empty. Classify and regress (TF Serving's
// example-based APIs) apply to versions whose outputs fit them (below).
//
// A ModelSignature views the version's Session: valid while the request holds
// that version's ModelHandle. Stateless functions; thread-safe.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "servekit/engine/session.h"
#include "servekit/util/dtype.h"
#include "servekit/util/status.h"

namespace servekit {

inline constexpr char kDefaultSignatureName[] = "serving_default";
inline constexpr char kPredictMethodName[] = "tensorflow/serving/predict";

struct ModelSignature {
  absl::string_view name;         // kDefaultSignatureName
  absl::string_view method_name;  // kPredictMethodName
  absl::Span<const TensorSpec> inputs;
  absl::Span<const TensorSpec> outputs;
};

// The signature a request names (`signature_name` "" is the default) among the
// version's; InvalidArgument, in TF Serving's words, if it has none by that name.
StatusOr<ModelSignature> FindSignature(const Session& session, const std::string& signature_name);

// The version's signatures (today: the one), for metadata.
std::vector<ModelSignature> SignaturesOf(const Session& session);

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

// TensorFlow's name of `dtype` ("DT_FLOAT", ...; "DT_INVALID" for kUndefined),
// as signature metadata and messages print it.
absl::string_view TfDataTypeName(DType dtype);

}  // namespace servekit
