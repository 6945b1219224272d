// The model inputs of a gRPC Classify or Regress request: its tf.Examples
// (an ExampleList, or an ExampleListWithContext whose context features every
// example shares, its own features winning), one batch row per example.
//
// Each model input is read from the feature of the same name: float_list (or
// int64_list) for float inputs, int64_list for integer inputs, with exactly as
// many values as one row of the input holds (a row of shape [28, 28] is 784
// values). Features the model does not use are ignored, as TensorFlow's
// example parsing ignores them. Errors are InvalidArgument naming the example
// and the feature; more than `max_elements` values in all are
// ResourceExhausted.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "servekit/engine/session.h"
#include "servekit/proto/tfs/input.pb.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"

namespace servekit {

StatusOr<std::vector<Tensor>> TensorsFromExamples(const tensorflow::serving::Input& input,
                                                  absl::Span<const TensorSpec> inputs,
                                                  int64_t max_elements);

}  // namespace servekit
