// TensorFlow's element types (tensorflow::DataType) as servekit DTypes.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "servekit/proto/tf/types.pb.h"
#include "servekit/util/dtype.h"

namespace servekit {

// The servekit DType of a TensorFlow dtype; nullopt for those servekit does not
// compute on (DT_HALF, DT_STRING, DT_RESOURCE, ..., and *_REF types).
std::optional<DType> FromTfDataType(tensorflow::DataType dtype);

// "DT_FLOAT"; "DataType 57" for a number the enum does not name (a hostile or
// newer file).
std::string TfDataTypeEnumName(int dtype);

// TensorFlow's name of `dtype` ("DT_FLOAT", ...; "DT_INVALID" for kUndefined),
// as signature metadata and messages print it.
absl::string_view TfDataTypeName(DType dtype);

// The TensorFlow type of `dtype`; DT_INVALID for kUndefined.
tensorflow::DataType ToTfDataType(DType dtype);

// The supported TensorFlow dtypes, for error messages.
inline constexpr char kSupportedTfDataTypes[] =
    "DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT8, DT_INT64 and DT_BOOL";

}  // namespace servekit
