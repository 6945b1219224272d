#include "servekit/formats/savedmodel/tf_data_type.h"

#include "absl/strings/str_cat.h"

namespace servekit {

std::optional<DType> FromTfDataType(tensorflow::DataType dtype) {
  switch (dtype) {
    case tensorflow::DT_FLOAT:
      return DType::kFloat32;
    case tensorflow::DT_DOUBLE:
      return DType::kFloat64;
    case tensorflow::DT_INT32:
      return DType::kInt32;
    case tensorflow::DT_UINT8:
      return DType::kUInt8;
    case tensorflow::DT_INT8:
      return DType::kInt8;
    case tensorflow::DT_INT64:
      return DType::kInt64;
    case tensorflow::DT_BOOL:
      return DType::kBool;
    default:
      return std::nullopt;
  }
}

std::string TfDataTypeEnumName(int dtype) {
  if (tensorflow::DataType_IsValid(dtype)) {
    return tensorflow::DataType_Name(static_cast<tensorflow::DataType>(dtype));
  }
  return absl::StrCat("DataType ", dtype);
}

}  // namespace servekit
