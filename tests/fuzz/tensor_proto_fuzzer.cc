// Fuzzes the gRPC API's tensor decoders: the input parsed as a
// tensorflow.TensorProto and decoded with TensorFromProto against a few model
// inputs (every dtype the codec accepts, fixed and batch dims, a batch factor),
// and parsed as a tensorflow.serving.Input (Classify / Regress examples) and
// decoded with TensorsFromExamples. A small element limit keeps every accepted
// tensor small; anything bigger must be refused before it is allocated.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "servekit/formats/tf_tensor_proto.h"
#include "servekit/proto/tf/tensor.pb.h"
#include "servekit/proto/tfs/input.pb.h"
#include "servekit/server/grpc/example_inputs.h"

namespace {

using servekit::Dim;
using servekit::DType;
using servekit::TensorSpec;

constexpr int64_t kMaxElements = int64_t{1} << 16;

}  // namespace

// protobuf logs every string field with invalid UTF-8 it parses; at fuzzing
// speed that is most of the run's time and output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Dim n = Dim::Batch();
  static const auto* const kSpecs = new std::vector<TensorSpec>{
      {"x", DType::kFloat32, {n, Dim::Fixed(3)}},
      {"d", DType::kFloat64, {}},
      {"ids", DType::kInt64, {n}},
      {"i", DType::kInt32, {n, Dim::Fixed(2)}},
      {"mask", DType::kBool, {n, Dim::Fixed(2)}},
      {"image", DType::kUInt8, {n, Dim::Fixed(2), Dim::Fixed(2)}},
      {"s", DType::kInt8, {Dim::Batch(4)}},
  };
  static const auto* const kExampleSignatures = new std::vector<std::vector<TensorSpec>>{
      {{"x", DType::kFloat32, {n, Dim::Fixed(3)}}},
      {{"ids", DType::kInt64, {n}}},
      {{"a", DType::kFloat32, {n, Dim::Fixed(2), Dim::Fixed(2)}}, {"b", DType::kInt32, {n}}},
  };

  tensorflow::TensorProto tensor;
  if (tensor.ParseFromArray(data, static_cast<int>(size))) {
    for (const TensorSpec& spec : *kSpecs) {
      servekit::StatusOr<servekit::Tensor> decoded =
          servekit::TensorFromProto(tensor, spec, kMaxElements);
      if (!decoded.ok()) continue;
      if (decoded->num_elements() > kMaxElements) __builtin_trap();
      tensorflow::TensorProto again;
      servekit::TensorToProto(*decoded, &again);
    }
  }

  tensorflow::serving::Input input;
  if (input.ParseFromArray(data, static_cast<int>(size))) {
    for (const std::vector<TensorSpec>& inputs : *kExampleSignatures) {
      servekit::StatusOr<std::vector<servekit::Tensor>> decoded =
          servekit::TensorsFromExamples(input, inputs, kMaxElements);
      if (!decoded.ok()) continue;
      int64_t elements = 0;
      for (const servekit::Tensor& t : *decoded) elements += t.num_elements();
      if (elements > kMaxElements) __builtin_trap();
    }
  }
  return 0;
}
