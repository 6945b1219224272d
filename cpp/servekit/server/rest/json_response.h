// TensorFlow Serving's REST response bodies, written from servekit tensors:
//
// - predict: row format {"predictions": [...]} (one entry per instance: the
//   value of the single output, or an object naming every output), columnar
//   format {"outputs": value | {"name": value}}.
// - classify answers {"results": [[["0", s0], ["1", s1], ...], ...]} from the
//   model's [N, K] scores; regress {"results": [v, ...]} from its [N] or
//   [N, 1] values (serving/signature.h says which models fit them).
// - errors: {"error": "<message>"}.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "servekit/engine/session.h"
#include "servekit/serving/signature.h"
#include "servekit/util/tensor.h"

namespace servekit {

// Appends the :predict response for `outputs` (values of the specs in
// `output_specs`, batch first) in the request's format.
void AppendPredictResponse(bool row_format, absl::Span<const TensorSpec> output_specs,
                           absl::Span<const Tensor> outputs, std::string* out);

// Appends {"results": ...} for the model's single output.
void AppendExamplesResponse(ExampleApi api, const Tensor& output, std::string* out);

// An upper bound on the bytes AppendPredictResponse (api nullopt) or
// AppendExamplesResponse writes for `outputs`, computed from their shapes and
// dtypes, so that an answer too large to send is refused before it is built.
size_t JsonAnswerBytesBound(std::optional<ExampleApi> api,
                            absl::Span<const TensorSpec> output_specs,
                            absl::Span<const Tensor> outputs);

// Appends {"error": "<message>"}.
void AppendErrorResponse(absl::string_view message, std::string* out);

}  // namespace servekit
