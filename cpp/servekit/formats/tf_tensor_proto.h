// TensorFlow's TensorProto (the tensor of TF Serving's gRPC API, and of a
// SavedModel's Const nodes) to and from servekit Tensors.
//
// Decoding checks a request tensor against one model input and copies it into
// a new owned Tensor; encoding writes a Tensor as dtype + shape + raw bytes.
// Stateless and thread-safe; nothing keeps a reference to its arguments.
//
// What TensorFromProto accepts (anything else is InvalidArgument naming what
// was wrong, except the size limit, which is ResourceExhausted):
//  - dtype: exactly the input's, among DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8,
//    DT_INT8, DT_INT64, DT_BOOL (DT_STRING and the rest are refused by name).
//  - tensor_shape: the input's rank; every fixed dim equal; dim 0 may be the
//    batch (any size that is a multiple of its factor). A missing shape is a
//    scalar; unknown_rank and negative sizes are refused.
//  - values from exactly one place: tensor_content (row-major little-endian
//    bytes, exactly elements * element size of them), or else the typed field
//    of the dtype (float_val, double_val, int_val for int32/uint8/int8 with a
//    range check, int64_val, bool_val) holding one value per element, or a
//    single value that fills the whole tensor, or nothing when the tensor has
//    no elements. Unlike TensorFlow, which zero-fills a missing field and
//    repeats the last value of a short one, any other count is refused, as are
//    values in a field that does not belong to the dtype.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "servekit/engine/session.h"
#include "servekit/formats/tf_data_type.h"
#include "servekit/proto/tf/tensor.pb.h"
#include "servekit/proto/tf/types.pb.h"
#include "servekit/util/dtype.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"

namespace servekit {

// A new tensor holding `proto`'s values, checked against the input `spec` (see
// above). ResourceExhausted, before anything is allocated, when the tensor has
// more than `max_elements` elements.
StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto, const TensorSpec& spec,
                                 int64_t max_elements);

// The value of a graph's Const node: the proto's own dtype and (fully known)
// shape, read by the rules above. ResourceExhausted beyond `max_elements`.
StatusOr<Tensor> TensorFromTfConstant(const tensorflow::TensorProto& proto, int64_t max_elements);

// Replaces `proto` with `tensor`: dtype, tensor_shape, and the elements as
// tensor_content (never the typed fields).
void TensorToProto(const Tensor& tensor, tensorflow::TensorProto* proto);

}  // namespace servekit
