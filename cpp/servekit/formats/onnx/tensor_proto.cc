#include "servekit/formats/onnx/tensor_proto.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "absl/strings/numbers.h"
#include "servekit/proto/onnx.pb.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

// The declared element count must match what the file holds.
Status CheckCount(int64_t have, int64_t need, const char* what) {
  if (have != need) {
    return Invalid(absl::StrCat("has ", have, " ", what, " but its shape needs ", need));
  }
  return absl::OkStatus();
}

StatusOr<std::string> ReadExternal(const onnx::TensorProto& proto, const std::string& base_dir,
                                   int64_t need_bytes) {
  if (base_dir.empty())
    return Invalid("uses external data, which needs the model loaded from a file");
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset" || entry.key() == "length") {
      int64_t value = 0;
      if (!absl::SimpleAtoi(entry.value(), &value) || value < 0) {
        return Invalid(absl::StrCat("external data ", entry.key(), " '", entry.value(),
                                    "' is not a valid number"));
      }
      (entry.key() == "offset" ? offset : length) = value;
    }
  }
  if (location.empty()) return Invalid("external data has no location");
  const fs::path relative(location);
  if (relative.is_absolute() || relative.lexically_normal().string().rfind("..", 0) == 0) {
    return Invalid(absl::StrCat("external data location '", location,
                                "' must stay inside the model directory"));
  }
  const fs::path file = fs::path(base_dir) / relative;
  std::error_code error;
  // Symlinks are resolved before the containment check, so a link inside the
  // directory cannot expose a file outside it.
  const fs::path real_base = fs::canonical(base_dir, error);
  const fs::path real_file = error ? fs::path() : fs::weakly_canonical(file, error);
  const auto [base_end, unused] =
      std::mismatch(real_base.begin(), real_base.end(), real_file.begin(), real_file.end());
  if (!error && base_end != real_base.end()) {
    return Invalid(absl::StrCat("external data location '", location,
                                "' must stay inside the model directory"));
  }
  const auto file_size = fs::file_size(file, error);
  if (error) return Invalid(absl::StrCat("external data file '", location, "' cannot be read"));
  if (length < 0) length = need_bytes;
  if (length != need_bytes)
    return Invalid(absl::StrCat("external data length ", length, " but its shape needs ",
                                need_bytes, " bytes"));
  if (static_cast<uint64_t>(offset) > file_size ||
      file_size - offset < static_cast<uint64_t>(length)) {
    return Invalid(absl::StrCat("external data file '", location, "' is shorter than offset ",
                                offset, " + length ", length));
  }
  std::ifstream in(file, std::ios::binary);
  std::string data(length, '\0');
  in.seekg(offset);
  in.read(data.data(), length);
  if (!in) return Invalid(absl::StrCat("external data file '", location, "' cannot be read"));
  return data;
}

template <typename Dst, typename Field>
void CopyField(const Field& field, Tensor& t) {
  Dst* out = t.data<Dst>();
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<Dst>(field.Get(i));
}

}  // namespace

StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir) {
  if (!IsSupportedDType(proto.data_type())) {
    return Invalid(absl::StrCat("has unsupported data type ", proto.data_type(),
                                " (supported: float32, float64, int64, int32, int8, uint8, bool)"));
  }
  const DType dtype = static_cast<DType>(proto.data_type());
  Shape shape(proto.dims().begin(), proto.dims().end());
  // Elements are bounded by what a protobuf or external file can hold.
  auto count = CheckedNumElements(shape, std::numeric_limits<int32_t>::max());
  if (!count.ok()) return Invalid(absl::StrCat("has invalid dims: ", count.status().message()));
  const int64_t need_bytes = *count * static_cast<int64_t>(DTypeSize(dtype));

  std::string external;
  const std::string* raw = nullptr;
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    ASSIGN_OR_RETURN(external, ReadExternal(proto, base_dir, need_bytes));
    raw = &external;
  } else if (proto.has_raw_data()) {
    raw = &proto.raw_data();
    RETURN_IF_ERROR(CheckCount(static_cast<int64_t>(raw->size()), need_bytes, "bytes of raw_data"));
  } else {
    switch (dtype) {
      case DType::kFloat32:
        RETURN_IF_ERROR(CheckCount(proto.float_data_size(), *count, "float_data values"));
        break;
      case DType::kFloat64:
        RETURN_IF_ERROR(CheckCount(proto.double_data_size(), *count, "double_data values"));
        break;
      case DType::kInt64:
        RETURN_IF_ERROR(CheckCount(proto.int64_data_size(), *count, "int64_data values"));
        break;
      default:
        RETURN_IF_ERROR(CheckCount(proto.int32_data_size(), *count, "int32_data values"));
        break;
    }
  }
  ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(dtype, shape));
  if (raw != nullptr) {
    if (need_bytes > 0) std::memcpy(t.raw_data(), raw->data(), need_bytes);
    return t;
  }
  switch (dtype) {
    case DType::kFloat32:
      CopyField<float>(proto.float_data(), t);
      break;
    case DType::kFloat64:
      CopyField<double>(proto.double_data(), t);
      break;
    case DType::kInt64:
      CopyField<int64_t>(proto.int64_data(), t);
      break;
    case DType::kInt32:
      CopyField<int32_t>(proto.int32_data(), t);
      break;
    case DType::kInt8:
      CopyField<int8_t>(proto.int32_data(), t);
      break;
    case DType::kUInt8:
      CopyField<uint8_t>(proto.int32_data(), t);
      break;
    case DType::kBool:
      CopyField<bool>(proto.int32_data(), t);
      break;
    case DType::kUndefined:
      break;
  }
  return t;
}

void TensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto) {
  proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto->add_dims(d);
  proto->set_raw_data(tensor.raw_data(), tensor.num_bytes());
}

}  // namespace servekit
