#include "servekit/formats/tf_data_type.h"

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

absl::string_view TfDataTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "DT_FLOAT";
    case DType::kFloat64:
      return "DT_DOUBLE";
    case DType::kInt32:
      return "DT_INT32";
    case DType::kUInt8:
      return "DT_UINT8";
    case DType::kInt8:
      return "DT_INT8";
    case DType::kInt64:
      return "DT_INT64";
    case DType::kBool:
      return "DT_BOOL";
    case DType::kUndefined:
      break;
  }
  return "DT_INVALID";
}

tensorflow::DataType ToTfDataType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return tensorflow::DT_FLOAT;
    case DType::kFloat64:
      return tensorflow::DT_DOUBLE;
    case DType::kInt32:
      return tensorflow::DT_INT32;
    case DType::kUInt8:
      return tensorflow::DT_UINT8;
    case DType::kInt8:
      return tensorflow::DT_INT8;
    case DType::kInt64:
      return tensorflow::DT_INT64;
    case DType::kBool:
      return tensorflow::DT_BOOL;
    case DType::kUndefined:
      break;
  }
  return tensorflow::DT_INVALID;
}

}  // namespace servekit
