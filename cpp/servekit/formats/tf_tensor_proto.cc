#include "servekit/formats/tf_tensor_proto.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "servekit/engine/dim.h"
#include "servekit/formats/tf_data_type.h"

// tensor_content holds little-endian elements, copied here as host memory.
#ifndef ABSL_IS_LITTLE_ENDIAN
#error "tensor_proto_codec assumes a little-endian host"
#endif

namespace servekit {
namespace {

using tensorflow::DataType;
using tensorflow::TensorProto;

// The typed field that carries values of `dtype`.
absl::string_view ValueFieldOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float_val";
    case DType::kFloat64:
      return "double_val";
    case DType::kInt32:
    case DType::kUInt8:
    case DType::kInt8:
      return "int_val";
    case DType::kInt64:
      return "int64_val";
    case DType::kBool:
      return "bool_val";
    case DType::kUndefined:
      break;
  }
  return "";
}

struct TypedField {
  absl::string_view name;
  int64_t count;
};

// Every typed value field of TensorProto, with how many values it holds.
std::array<TypedField, 12> TypedFields(const TensorProto& p) {
  return {{{"float_val", p.float_val_size()},
           {"double_val", p.double_val_size()},
           {"int_val", p.int_val_size()},
           {"int64_val", p.int64_val_size()},
           {"bool_val", p.bool_val_size()},
           {"half_val", p.half_val_size()},
           {"string_val", p.string_val_size()},
           {"scomplex_val", p.scomplex_val_size()},
           {"dcomplex_val", p.dcomplex_val_size()},
           {"uint32_val", p.uint32_val_size()},
           {"uint64_val", p.uint64_val_size()},
           {"float8_val", static_cast<int64_t>(p.float8_val().size())}}};
}

// The request's shape, checked against the input's: same rank, equal fixed
// dims, dim 0 a multiple of the batch factor when it is the batch dim.
StatusOr<Shape> CheckShape(const TensorProto& proto, const TensorSpec& spec) {
  const std::string expected = SymShapeToString(spec.shape);
  for (size_t d = 1; d < spec.shape.size(); ++d) {
    if (!spec.shape[d].is_fixed()) {
      return absl::UnimplementedError(absl::StrCat(
          "the model input has shape ", expected, ", which depends on the batch size in dimension ",
          d, "; gRPC requests support batch-dependent dimension 0 only"));
    }
  }
  const tensorflow::TensorShapeProto& shape_proto = proto.tensor_shape();
  if (shape_proto.unknown_rank()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor_shape has unknown_rank set; send the full shape (the input's is ", expected, ")"));
  }
  Shape shape;
  for (int d = 0; d < shape_proto.dim_size(); ++d) {
    const int64_t size = shape_proto.dim(d).size();
    if (size < 0) {
      return absl::InvalidArgumentError(absl::StrCat("tensor_shape dimension ", d, " has size ",
                                                     size, "; sizes must be 0 or more"));
    }
    shape.push_back(size);
  }
  if (shape.size() != spec.shape.size()) {
    return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeToString(shape), " has rank ",
                                                   shape.size(), "; the input has rank ",
                                                   spec.shape.size(), " (shape ", expected, ")"));
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    const Dim dim = spec.shape[d];
    if (dim.is_fixed() && shape[d] != dim.value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " does not match the input's ", expected,
                       ": dimension ", d, " is ", shape[d], ", expected ", dim.value()));
    }
    if (!dim.is_fixed() && dim.value() > 1 && shape[d] % dim.value() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeToString(shape), " does not match the input's ", expected, ": dimension ",
          d, " is ", shape[d], ", expected a multiple of ", dim.value()));
    }
  }
  return shape;
}

// The element count of `shape`; ResourceExhausted when it exceeds `max_elements`.
StatusOr<int64_t> CheckElementLimit(const Shape& shape, int64_t max_elements) {
  const int64_t limit = std::max<int64_t>(max_elements, 0);
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (n > limit / d) {
      return absl::ResourceExhaustedError(
          absl::StrCat("shape ", ShapeToString(shape), " holds more than ", limit,
                       " elements, the server's limit for one request (--max_request_values)"));
    }
    n *= d;
  }
  return n;
}

template <typename T, typename V>
bool Fits(V value) {
  if constexpr (std::is_same_v<T, V>) {
    return true;
  } else {
    return value >= std::numeric_limits<T>::min() && value <= std::numeric_limits<T>::max();
  }
}

// Copies `values` (one per element, or one for all) into `tensor`, converting
// each to T; InvalidArgument for a value T cannot hold.
template <typename T, typename V>
Status FillFromField(const google::protobuf::RepeatedField<V>& values, absl::string_view field,
                     Tensor& tensor) {
  for (int i = 0; i < values.size(); ++i) {
    if (!Fits<T>(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "] is ", values[i], ", out of range for ", TfDataTypeName(tensor.dtype()),
          " [", static_cast<int64_t>(std::numeric_limits<T>::min()), ", ",
          static_cast<int64_t>(std::numeric_limits<T>::max()), "]"));
    }
  }
  T* out = tensor.data<T>();
  const int64_t n = tensor.num_elements();
  if (values.size() == 1) {
    std::fill_n(out, n, static_cast<T>(values[0]));
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(values[static_cast<int>(i)]);
  }
  return absl::OkStatus();
}

Status FillFromTypedField(const TensorProto& proto, Tensor& tensor) {
  switch (tensor.dtype()) {
    case DType::kFloat32:
      return FillFromField<float>(proto.float_val(), "float_val", tensor);
    case DType::kFloat64:
      return FillFromField<double>(proto.double_val(), "double_val", tensor);
    case DType::kInt32:
      return FillFromField<int32_t>(proto.int_val(), "int_val", tensor);
    case DType::kUInt8:
      return FillFromField<uint8_t>(proto.int_val(), "int_val", tensor);
    case DType::kInt8:
      return FillFromField<int8_t>(proto.int_val(), "int_val", tensor);
    case DType::kInt64:
      return FillFromField<int64_t>(proto.int64_val(), "int64_val", tensor);
    case DType::kBool:
      return FillFromField<bool>(proto.bool_val(), "bool_val", tensor);
    case DType::kUndefined:
      break;
  }
  return absl::InternalError("no typed field for an undefined dtype");
}

}  // namespace

StatusOr<Tensor> TensorFromProto(const TensorProto& proto, const TensorSpec& spec,
                                 int64_t max_elements) {
  // dtype
  const std::optional<DType> dtype = FromTfDataType(proto.dtype());
  if (!dtype.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype ", TfDataTypeEnumName(proto.dtype()),
                     " is not supported (servekit serves DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, "
                     "DT_INT8, DT_INT64 and DT_BOOL); "
                     "the input is ",
                     TfDataTypeName(spec.dtype)));
  }
  if (*dtype != spec.dtype) {
    return absl::InvalidArgumentError(absl::StrCat("dtype ", TfDataTypeName(*dtype),
                                                   " does not match the input's ",
                                                   TfDataTypeName(spec.dtype)));
  }

  // shape and size
  ASSIGN_OR_RETURN(Shape shape, CheckShape(proto, spec));
  ASSIGN_OR_RETURN(const int64_t elements, CheckElementLimit(shape, max_elements));

  // where the values are
  const absl::string_view value_field = ValueFieldOf(*dtype);
  const bool from_content = !proto.tensor_content().empty();
  for (const TypedField& field : TypedFields(proto)) {
    if (field.count == 0) continue;
    if (from_content) {
      return absl::InvalidArgumentError(absl::StrCat("the tensor sets both tensor_content and ",
                                                     field.name,
                                                     "; send its values in one of them"));
    }
    if (field.name != value_field) {
      return absl::InvalidArgumentError(
          absl::StrCat(TfDataTypeName(*dtype), " values belong in ", value_field,
                       " or tensor_content, but the tensor sets ", field.name));
    }
  }
  const size_t element_size = DTypeSize(*dtype);
  if (from_content) {
    const size_t needed = static_cast<size_t>(elements) * element_size;
    if (proto.tensor_content().size() != needed) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor_content holds ", proto.tensor_content().size(), " bytes; shape ",
                       ShapeToString(shape), " of ", TfDataTypeName(*dtype), " needs ", needed));
    }
  } else {
    int64_t count = 0;
    for (const TypedField& field : TypedFields(proto)) {
      if (field.name == value_field) count = field.count;
    }
    if (count != elements && count != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(value_field, " holds ", count, " values; shape ", ShapeToString(shape),
                       " needs ", elements, " (or a single value to fill it)"));
    }
  }

  // the copy
  ASSIGN_OR_RETURN(Tensor tensor, Tensor::Allocate(*dtype, std::move(shape)));
  if (!from_content) {
    RETURN_IF_ERROR(FillFromTypedField(proto, tensor));
  } else if (*dtype == DType::kBool) {
    // Any non-zero byte is true; the kernels rely on bools being 0 or 1.
    const std::string& content = proto.tensor_content();
    bool* out = tensor.data<bool>();
    for (int64_t i = 0; i < elements; ++i) out[i] = content[i] != 0;
  } else if (elements > 0) {
    std::memcpy(tensor.raw_data(), proto.tensor_content().data(), proto.tensor_content().size());
  }
  return tensor;
}

StatusOr<Tensor> TensorFromTfConstant(const TensorProto& proto, int64_t max_elements) {
  TensorSpec spec;
  spec.name = "constant";
  const std::optional<DType> dtype = FromTfDataType(proto.dtype());
  if (!dtype.has_value()) {
    return absl::UnimplementedError(absl::StrCat("a constant of ",
                                                 TfDataTypeEnumName(proto.dtype()),
                                                 "; servekit computes on ", kSupportedTfDataTypes));
  }
  spec.dtype = *dtype;
  if (proto.tensor_shape().unknown_rank()) {
    return absl::InvalidArgumentError("a constant of unknown rank");
  }
  for (const auto& dim : proto.tensor_shape().dim()) {
    if (dim.size() < 0) return absl::InvalidArgumentError("a constant with an unknown dimension");
    spec.shape.push_back(Dim::Fixed(dim.size()));
  }
  StatusOr<Tensor> tensor = TensorFromProto(proto, spec, max_elements);
  if (absl::IsResourceExhausted(tensor.status())) {
    // TensorFromProto words it for requests; this is a model's constant.
    return absl::InvalidArgumentError(
        absl::StrCat("a constant of shape ", SymShapeToString(spec.shape), " holds more than ",
                     max_elements, " elements, servekit's limit"));
  }
  return tensor;
}

void TensorToProto(const Tensor& tensor, TensorProto* proto) {
  proto->Clear();
  proto->set_dtype(ToTfDataType(tensor.dtype()));
  tensorflow::TensorShapeProto* shape = proto->mutable_tensor_shape();
  for (int64_t d : tensor.shape()) shape->add_dim()->set_size(d);
  if (tensor.num_bytes() > 0) {
    proto->set_tensor_content(static_cast<const char*>(tensor.raw_data()), tensor.num_bytes());
  }
}

}  // namespace servekit
