// Conversion between ONNX TensorProto and servekit Tensor.
#pragma once

#include <string>

#include "servekit/util/status.h"
#include "servekit/util/tensor.h"

namespace servekit {
namespace onnx {
class TensorProto;
}

// Reads raw_data, the typed data fields, or external data (location, offset,
// length relative to `base_dir`, which must contain the file). The data must
// hold exactly as many elements as the dims declare; nothing is allocated
// before that is checked, so hostile dims cannot exhaust memory.
StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir);

// Writes `tensor` as raw_data.
void TensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

}  // namespace servekit
