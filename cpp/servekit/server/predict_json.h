// TensorFlow Serving's REST request and response bodies for :predict,
// :classify and :regress, converted to and from servekit tensors, natively
// (RapidJSON; no Python). The formats are those of TF Serving's REST API
// documentation:
//
// - predict, row format: {"signature_name": s?, "instances": [...]}. With one
//   model input each instance is its value (or {"name": value}); with several
//   each instance is an object naming every input. The instances are stacked
//   along a new first (batch) dimension.
// - predict, columnar format: {"signature_name": s?, "inputs": value |
//   {"name": value, ...}}, each value the whole tensor, batch dimension
//   included.
// - values: nested arrays of numbers (ints, floats, NaN / Infinity /
//   -Infinity tokens), true/false for bool inputs, and {"b64": "..."}: the
//   base64 of the raw little-endian bytes of that (sub-)tensor in the input's
//   dtype (servekit models have no string tensors; this is how binary data such
//   as uint8 images travels).
// - responses: row format {"predictions": [...]} (one entry per instance: the
//   value of the single output, or an object naming every output), columnar
//   format {"outputs": value | {"name": value}}.
// - classify / regress: {"signature_name": s?, "context": {...}?,
//   "examples": [{"feature": value, ...}, ...]}: each example (merged over the
//   context) names the model's inputs like a row-format instance. Classify
//   fits a model with one float output of shape [N, K] (scores) and answers
//   {"results": [[["0", s0], ["1", s1], ...], ...]}; regress fits one float
//   output of shape [N] or [N, 1] and answers {"results": [v, ...]}.
//
// Every malformed body is an InvalidArgument whose message says what and
// where (no exceptions, no recursion on the input's nesting depth).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "servekit/engine/session.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"

namespace servekit {

struct JsonPredictRequest {
  std::string signature_name;  // "" when the body names none
  bool row_format = true;      // "instances" (true) or "inputs" (false)
  std::vector<Tensor> inputs;  // owned; one per model input, in the order of `inputs`
};

// Parses a :predict body for a model whose inputs are `inputs`. Shapes and
// dtypes are checked against the specs (the batch dimension may be any size;
// all inputs must agree on it). A request with more than `max_elements` values
// in all is ResourceExhausted.
StatusOr<JsonPredictRequest> ParsePredictRequest(absl::string_view body, absl::Span<const TensorSpec> inputs,
                                                 int64_t max_elements);

// Appends the :predict response for `outputs` (values of the specs in
// `output_specs`, batch first) in the request's format.
void AppendPredictResponse(bool row_format, absl::Span<const TensorSpec> output_specs,
                           absl::Span<const Tensor> outputs, std::string* out);

enum class ExampleApi { kClassify, kRegress };

// InvalidArgument, naming the API, unless the model's outputs fit it (above).
Status CheckExampleApiSignature(ExampleApi api, absl::Span<const TensorSpec> output_specs);

// Parses a :classify or :regress body into one batch of model inputs (one row
// per example), like ParsePredictRequest (row_format is true).
StatusOr<JsonPredictRequest> ParseExamplesRequest(absl::string_view body, absl::Span<const TensorSpec> inputs,
                                                  int64_t max_elements);

// Appends {"results": ...} for the model's single output.
void AppendExamplesResponse(ExampleApi api, const Tensor& output, std::string* out);

// An upper bound on the bytes AppendPredictResponse (api nullopt) or
// AppendExamplesResponse writes for `outputs`, computed from their shapes and
// dtypes, so that an answer too large to send is refused before it is built.
size_t JsonAnswerBytesBound(std::optional<ExampleApi> api, absl::Span<const TensorSpec> output_specs,
                            absl::Span<const Tensor> outputs);

// Appends {"error": "<message>"}.
void AppendErrorResponse(absl::string_view message, std::string* out);

}  // namespace servekit
