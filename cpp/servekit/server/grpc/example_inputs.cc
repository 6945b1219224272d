#include "servekit/server/grpc/example_inputs.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace servekit {
namespace {

using tensorflow::Example;
using tensorflow::Feature;

const Feature* FindFeature(const Example& example, const Example* context,
                           const std::string& name) {
  const auto& own = example.features().feature();
  if (auto it = own.find(name); it != own.end()) return &it->second;
  if (context != nullptr) {
    const auto& shared = context->features().feature();
    if (auto it = shared.find(name); it != shared.end()) return &it->second;
  }
  return nullptr;
}

template <typename T, typename Values>
Status CopyValues(const Values& values, T* out, const std::string& where) {
  for (int i = 0; i < values.size(); ++i) {
    const auto v = values.Get(i);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": value ", v, " does not fit the input's type"));
      }
    }
    out[i] = static_cast<T>(v);
  }
  return absl::OkStatus();
}

// Writes one example's row of `spec` (`per_row` values) at `out`.
Status FillRow(const Feature& feature, const TensorSpec& spec, int64_t per_row, void* out,
               const std::string& where) {
  const bool floats = feature.has_float_list();
  const bool ints = feature.has_int64_list();
  const int64_t count = floats ? feature.float_list().value_size()
                        : ints ? feature.int64_list().value_size()
                               : -1;
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " must be a float_list or an int64_list for input '", spec.name, "'"));
  }
  if (count != per_row) {
    return absl::InvalidArgumentError(absl::StrCat(where, " has ", count, " values; input '",
                                                   spec.name, "' takes ", per_row, " per example"));
  }
  switch (spec.dtype) {
    case DType::kFloat32:
      return floats ? CopyValues(feature.float_list().value(), static_cast<float*>(out), where)
                    : CopyValues(feature.int64_list().value(), static_cast<float*>(out), where);
    case DType::kFloat64:
      return floats ? CopyValues(feature.float_list().value(), static_cast<double*>(out), where)
                    : CopyValues(feature.int64_list().value(), static_cast<double*>(out), where);
    default:
      break;
  }
  if (floats) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is a float_list; input '", spec.name,
                                                   "' takes integers (an int64_list)"));
  }
  const auto& values = feature.int64_list().value();
  switch (spec.dtype) {
    case DType::kInt64:
      return CopyValues(values, static_cast<int64_t*>(out), where);
    case DType::kInt32:
      return CopyValues(values, static_cast<int32_t*>(out), where);
    case DType::kInt8:
      return CopyValues(values, static_cast<int8_t*>(out), where);
    case DType::kUInt8:
      return CopyValues(values, static_cast<uint8_t*>(out), where);
    case DType::kBool:
      return CopyValues(values, static_cast<bool*>(out), where);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("input '", spec.name, "' has an unsupported type"));
  }
}

}  // namespace

StatusOr<std::vector<Tensor>> TensorsFromExamples(const tensorflow::serving::Input& input,
                                                  absl::Span<const TensorSpec> inputs,
                                                  int64_t max_elements) {
  const google::protobuf::RepeatedPtrField<Example>* examples = nullptr;
  const Example* context = nullptr;
  if (input.has_example_list()) {
    examples = &input.example_list().examples();
  } else if (input.has_example_list_with_context()) {
    examples = &input.example_list_with_context().examples();
    context = &input.example_list_with_context().context();
  } else {
    return absl::InvalidArgumentError(
        "the request's input has no examples (example_list or example_list_with_context)");
  }
  if (examples->empty()) return absl::InvalidArgumentError("the request's input has no examples");
  const int64_t rows = examples->size();
  std::vector<Tensor> tensors;
  int64_t total = 0;
  for (const TensorSpec& spec : inputs) {
    if (spec.shape.empty() || spec.shape[0] != Dim::Batch()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", spec.name, "' has no batch dimension, so it cannot take one row per example"));
    }
    Shape shape{rows};
    int64_t per_row = 1;
    for (size_t d = 1; d < spec.shape.size(); ++d) {
      if (!spec.shape[d].is_fixed())
        return absl::InvalidArgumentError("only the first input dimension may vary");
      shape.push_back(spec.shape[d].value());
      per_row *= spec.shape[d].value();
    }
    total += per_row * rows;
    if (total > max_elements) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the request has more than ", max_elements,
                       " values, the server's limit (--max_request_values)"));
    }
    ASSIGN_OR_RETURN(Tensor tensor, Tensor::Allocate(spec.dtype, shape));
    char* out = static_cast<char*>(tensor.raw_data());
    const size_t row_bytes = per_row * DTypeSize(spec.dtype);
    for (int64_t r = 0; r < rows; ++r) {
      const std::string where = absl::StrCat("example ", r, " feature '", spec.name, "'");
      const Feature* feature = FindFeature((*examples)[r], context, spec.name);
      if (feature == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("example ", r, " has no feature '", spec.name, "'"));
      }
      RETURN_IF_ERROR(FillRow(*feature, spec, per_row, out + r * row_bytes, where));
    }
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

}  // namespace servekit
