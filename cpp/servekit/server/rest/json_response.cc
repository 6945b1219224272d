#include "servekit/server/rest/json_response.h"

#include <charconv>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "servekit/engine/dim.h"
#include "servekit/util/json_writer.h"

namespace servekit {
namespace {

// ---------------------------------------------------------------------------------------
// Writing tensors

template <typename T>
void WriteElement(JsonWriter& writer, T value) {
  if constexpr (std::is_same_v<T, bool>) {
    writer.Bool(value);
  } else if constexpr (std::is_same_v<T, float>) {
    writer.Float(value);
  } else if constexpr (std::is_same_v<T, double>) {
    writer.Double(value);
  } else {
    writer.Int(value);
  }
}

// Recursion depth is the tensor's rank.
template <typename T>
void WriteNested(JsonWriter& writer, const T*& data, absl::Span<const int64_t> dims) {
  if (dims.empty()) {
    WriteElement(writer, *data++);
    return;
  }
  writer.BeginArray();
  if (dims.size() == 1) {
    for (int64_t i = 0; i < dims[0]; ++i) WriteElement(writer, *data++);
  } else {
    for (int64_t i = 0; i < dims[0]; ++i) WriteNested(writer, data, dims.subspan(1));
  }
  writer.EndArray();
}

template <typename T>
void WriteTyped(JsonWriter& writer, const Tensor& tensor, int64_t offset,
                absl::Span<const int64_t> dims) {
  const T* data = tensor.data<T>() + offset;
  WriteNested(writer, data, dims);
}

// Writes the elements from `offset` on as a value of shape `dims`.
void WriteTensorValue(JsonWriter& writer, const Tensor& tensor, int64_t offset,
                      absl::Span<const int64_t> dims) {
  switch (tensor.dtype()) {
    case DType::kFloat32:
      return WriteTyped<float>(writer, tensor, offset, dims);
    case DType::kFloat64:
      return WriteTyped<double>(writer, tensor, offset, dims);
    case DType::kInt64:
      return WriteTyped<int64_t>(writer, tensor, offset, dims);
    case DType::kInt32:
      return WriteTyped<int32_t>(writer, tensor, offset, dims);
    case DType::kInt8:
      return WriteTyped<int8_t>(writer, tensor, offset, dims);
    case DType::kUInt8:
      return WriteTyped<uint8_t>(writer, tensor, offset, dims);
    case DType::kBool:
      return WriteTyped<bool>(writer, tensor, offset, dims);
    case DType::kUndefined:
      break;
  }
  writer.Null();
}

// How the row format splits outputs into rows: the outputs whose spec makes
// the first dimension the batch (factor rows each); with none, every output
// whose first dimension matches the first output's, as TF Serving splits them.
// An output that cannot be split (a scalar, a batch-independent tensor) is
// repeated whole in every row (rows_per_entry 0).
struct RowLayout {
  int64_t rows = 1;
  absl::InlinedVector<int64_t, 8> rows_per_entry;  // first-dim entries per row; 0: whole
};

RowLayout RowLayoutOf(absl::Span<const TensorSpec> output_specs, absl::Span<const Tensor> outputs) {
  const auto batch_factor = [&](size_t i) -> int64_t {
    if (i >= output_specs.size() || output_specs[i].shape.empty() ||
        output_specs[i].shape[0].is_fixed())
      return 0;
    return output_specs[i].shape[0].value();
  };
  int64_t rows = -1;
  for (size_t i = 0; i < outputs.size() && rows < 0; ++i) {
    const int64_t factor = batch_factor(i);
    if (factor > 0 && outputs[i].rank() > 0) rows = outputs[i].dim(0) / factor;
  }
  const bool batch_from_specs = rows >= 0;
  for (size_t i = 0; i < outputs.size() && rows < 0; ++i) {
    if (outputs[i].rank() > 0) rows = outputs[i].dim(0);
  }
  RowLayout layout;
  layout.rows_per_entry.assign(outputs.size(), 0);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].rank() == 0) continue;
    const int64_t factor = batch_from_specs ? batch_factor(i) : 1;
    if (factor > 0 && outputs[i].dim(0) == rows * factor) layout.rows_per_entry[i] = factor;
  }
  layout.rows = rows < 0 ? 1 : rows;
  return layout;
}

void WriteScore(JsonWriter& writer, const Tensor& tensor, int64_t i) {
  if (tensor.dtype() == DType::kFloat64) {
    writer.Double(tensor.data<double>()[i]);
  } else {
    writer.Float(tensor.data<float>()[i]);
  }
}

bool IsFloatDType(DType dtype) { return dtype == DType::kFloat32 || dtype == DType::kFloat64; }

}  // namespace

void AppendPredictResponse(bool row_format, absl::Span<const TensorSpec> output_specs,
                           absl::Span<const Tensor> outputs, std::string* out) {
  JsonWriter writer(out);
  writer.BeginObject();
  const auto name_of = [&](size_t i) -> absl::string_view {
    return i < output_specs.size() ? absl::string_view(output_specs[i].name) : absl::string_view();
  };
  if (!row_format) {
    writer.Key("outputs");
    if (outputs.size() != 1) writer.BeginObject();
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (outputs.size() != 1) writer.Key(name_of(i));
      WriteTensorValue(writer, outputs[i], 0, outputs[i].shape());
    }
    if (outputs.size() != 1) writer.EndObject();
    writer.EndObject();
    return;
  }

  const RowLayout layout = RowLayoutOf(output_specs, outputs);
  const int64_t rows = layout.rows;
  const absl::InlinedVector<int64_t, 8>& rows_per_entry = layout.rows_per_entry;

  writer.Key("predictions");
  writer.BeginArray();
  for (int64_t r = 0; r < rows; ++r) {
    if (outputs.size() != 1) writer.BeginObject();
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (outputs.size() != 1) writer.Key(name_of(i));
      const Tensor& t = outputs[i];
      if (rows_per_entry[i] == 0) {
        WriteTensorValue(writer, t, 0, t.shape());
        continue;
      }
      Shape row_dims(t.shape().begin() + 1, t.shape().end());
      if (rows_per_entry[i] != 1) row_dims.insert(row_dims.begin(), rows_per_entry[i]);
      WriteTensorValue(writer, t, r * NumElements(row_dims), row_dims);
    }
    if (outputs.size() != 1) writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
}

void AppendExamplesResponse(ExampleApi api, const Tensor& output, std::string* out) {
  JsonWriter writer(out);
  writer.BeginObject();
  writer.Key("results");
  writer.BeginArray();
  const int64_t rows = output.rank() == 0 ? 1 : output.dim(0);
  const int64_t per_row = rows == 0 ? 0 : output.num_elements() / rows;
  if (IsFloatDType(output.dtype())) {
    for (int64_t r = 0; r < rows; ++r) {
      if (api == ExampleApi::kRegress && per_row == 1) {
        WriteScore(writer, output, r);
        continue;
      }
      writer.BeginArray();
      for (int64_t k = 0; k < per_row; ++k) {
        if (api == ExampleApi::kClassify) {
          char label[24];
          const char* end = std::to_chars(label, label + sizeof(label), k).ptr;
          writer.BeginArray().String(absl::string_view(label, end - label));
          WriteScore(writer, output, r * per_row + k);
          writer.EndArray();
        } else {
          WriteScore(writer, output, r * per_row + k);
        }
      }
      writer.EndArray();
    }
  }
  writer.EndArray();
  writer.EndObject();
}

namespace {

// The longest JSON text of one element of `dtype`, with its separator.
size_t MaxElementChars(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 16;  // -1.17549435e-38, or -Infinity
    case DType::kFloat64:
      return 25;  // -2.2250738585072014e-308
    case DType::kInt64:
      return 21;
    case DType::kInt32:
      return 12;
    case DType::kInt8:
      return 5;
    case DType::kUInt8:
      return 4;
    case DType::kBool:
      return 6;
    case DType::kUndefined:
      break;
  }
  return 25;
}

// Brackets and commas around the elements of a tensor written as nested
// lists: each list costs "[", "]" and ",".
size_t ListChars(absl::Span<const int64_t> dims) {
  size_t lists = 0, per_level = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    lists += per_level;
    per_level *= static_cast<size_t>(dims[d]);
  }
  return 3 * lists;
}

}  // namespace

size_t JsonAnswerBytesBound(std::optional<ExampleApi> api,
                            absl::Span<const TensorSpec> output_specs,
                            absl::Span<const Tensor> outputs) {
  constexpr size_t kFixed = 64;  // the outer object and its key
  if (api.has_value()) {
    // Per score: ["<class>", <score>], (classify) or <value>, (regress).
    size_t bytes = kFixed;
    for (const Tensor& t : outputs) bytes += t.num_elements() * (24 + 25) + ListChars(t.shape());
    return bytes;
  }
  size_t names = 0;
  for (const TensorSpec& spec : output_specs) names += JsonQuote(spec.name).size() + 2;
  const RowLayout layout = RowLayoutOf(output_specs, outputs);
  const size_t rows = static_cast<size_t>(layout.rows);
  size_t bytes = kFixed + rows * (names + 3);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = outputs[i];
    const size_t whole = t.num_elements() * MaxElementChars(t.dtype()) + ListChars(t.shape());
    // Split into rows (each row one list more), or repeated whole in every row.
    bytes += layout.rows_per_entry[i] != 0 ? whole + 3 * rows : whole * rows;
  }
  return bytes;
}

void AppendErrorResponse(absl::string_view message, std::string* out) {
  JsonWriter(out).BeginObject().Key("error").String(message).EndObject();
}

}  // namespace servekit
