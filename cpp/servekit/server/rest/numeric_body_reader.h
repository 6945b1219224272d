// The fast path of a :predict body: one numeric tensor, read straight into
// the tensor with no document in between. The plain bodies that nearly every
// client sends are read by hand (plain_body_scanner.h); any other goes to
// simdjson's On-Demand parser (a 784-float body: about 3x faster than the
// general path's RapidJSON document; bench/json_bench.cc).
//
// It takes the body most clients send: {"instances": [...]} or
// {"inputs": [...]} (with an optional "signature_name") for a model with one
// float32 or float64 input whose first dimension is the batch, the value
// nested lists of numbers whose depth and inner lengths are the input's. For
// any other body, and for every malformed one, it answers nullopt and
// ParsePredictRequest reads the body the general way (which says what is
// wrong); where it answers, its tensor is exactly the general path's (the
// json_body fuzzer compares them). Numbers convert as in json_document.h;
// NaN and Infinity tokens, which simdjson does not read, go the general way.
//
// Thread-safe; it keeps a per-thread scratch buffer between calls.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "servekit/server/rest/json_request.h"

namespace servekit {

std::optional<JsonPredictRequest> ReadNumericPredictBody(absl::string_view body,
                                                         absl::Span<const TensorSpec> inputs,
                                                         int64_t max_elements);

}  // namespace servekit
