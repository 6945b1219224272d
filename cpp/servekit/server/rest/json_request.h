// TensorFlow Serving's REST request bodies for :predict, :classify and
// :regress, parsed into servekit tensors natively (RapidJSON; no Python). The
// formats are those of TF Serving's REST API documentation:
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
// - classify / regress: {"signature_name": s?, "context": {...}?,
//   "examples": [{"feature": value, ...}, ...]}: each example (merged over the
//   context) names the model's inputs like a row-format instance.
//
// Every malformed body is an InvalidArgument whose message says what and
// where (no exceptions, no recursion on the input's nesting depth).
#pragma once

#include <cstdint>
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
StatusOr<JsonPredictRequest> ParsePredictRequest(absl::string_view body,
                                                 absl::Span<const TensorSpec> inputs,
                                                 int64_t max_elements);

// ParsePredictRequest without its fast path (numeric_body_reader.h), for the
// tests and the fuzzer that check the two agree.
StatusOr<JsonPredictRequest> ParsePredictDocument(absl::string_view body,
                                                  absl::Span<const TensorSpec> inputs,
                                                  int64_t max_elements);

// The "signature_name" string at the top level of a JSON body; "" when it has
// none or the body is not a JSON object (the full parse reports that).
std::string ReadBodySignatureName(absl::string_view body);

// Parses a :classify or :regress body into one batch of model inputs (one row
// per example), like ParsePredictRequest (row_format is true).
StatusOr<JsonPredictRequest> ParseExamplesRequest(absl::string_view body,
                                                  absl::Span<const TensorSpec> inputs,
                                                  int64_t max_elements);

}  // namespace servekit
