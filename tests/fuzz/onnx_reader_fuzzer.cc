// Fuzzes the ONNX model reader end to end (formats/model_loader.h): the input
// is a model file's bytes, parsed, validated, shape-inferred, optimised and
// turned into a Session by LoadModelFromBytes. A model that loads is run once
// on zero inputs (batch 1) when every input is small, so that the kernels
// meet the shapes and attributes the loader let through.
//
// Model files are less hostile than requests (an operator installs them), but
// they may come from anywhere; a file must fail with an error, not a crash,
// and a small file must not make the loader allocate or compute without bound.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "servekit/engine/dim.h"
#include "servekit/formats/model_loader.h"
#include "servekit/util/dtype.h"

namespace {
// Inputs are zero-filled and run only below this many elements each.
constexpr int64_t kMaxRunElements = 4096;
}  // namespace

// protobuf logs every string field with invalid UTF-8 it parses; at fuzzing
// speed that is most of the run's time and output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  servekit::LoadOptions options;
  // A few hundred bytes can describe a batch-1 run needing gigabytes (a MatMul
  // with K = 0 against a 9-d initializer holding no values is 3 GB of zeros);
  // the engine's default cap (16 GiB) is above the fuzzer's RSS limit.
  options.session.max_request_bytes = size_t{256} << 20;
  servekit::StatusOr<std::unique_ptr<servekit::Session>> session =
      servekit::LoadModelFromBytes(bytes, options);
  if (!session.ok()) return 0;

  std::vector<servekit::Tensor> inputs;
  for (const servekit::TensorSpec& spec : (*session)->inputs()) {
    const servekit::Shape shape = servekit::Evaluate(spec.shape, /*batch=*/1);
    int64_t elements = 1;
    for (int64_t d : shape) {
      if (d < 0 || d > kMaxRunElements) return 0;
      elements *= d;
      if (elements > kMaxRunElements) return 0;
    }
    servekit::StatusOr<servekit::Tensor> tensor = servekit::Tensor::Allocate(spec.dtype, shape);
    if (!tensor.ok()) return 0;
    std::memset(tensor->data<char>(), 0, tensor->num_bytes());
    inputs.push_back(*std::move(tensor));
  }
  (void)(*session)->Run(inputs);
  return 0;
}
