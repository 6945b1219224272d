// Fuzzes what the SavedModel loader (formats/savedmodel/saved_model_loader.h)
// does with a saved_model.pb after parsing it: the input is the file's bytes,
// parsed with ParseSavedModelMetaGraph; every signature the loader would serve
// is inlined (function_inliner.h, one SignatureInliner for them), translated to the IR
// (tf_translator.h), inferred, optimised and made a Session (BuildSession, whose first step is
// InferGraph), and a Session is run once on zero inputs when they are small.
//
// Variables come from the graph, not from a bundle (tensor_bundle_fuzzer has
// that): a variable node whose declared dtype and shape are supported and
// small reads as zeros of them, anything else as an error, so the translator
// meets both. Zeros also reach integer kernels with zero divisors.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "google/protobuf/stubs/logging.h"
#include "servekit/engine/dim.h"
#include "servekit/formats/model_loader.h"
#include "servekit/formats/savedmodel/function_inliner.h"
#include "servekit/formats/savedmodel/node_attrs.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/formats/savedmodel/tf_translator.h"
#include "servekit/formats/tf_data_type.h"

namespace {

// Variables are zeros up to this many elements (the seeds' largest, a CNN's
// dense kernel, has 5,760); run inputs up to the second number.
constexpr int64_t kMaxVariableElements = int64_t{1} << 16;
constexpr int64_t kMaxInputElements = 4096;

// The element count of `shape`, or -1 when a dim is negative or the count
// exceeds `limit`.
int64_t SmallElementCount(const servekit::Shape& shape, int64_t limit) {
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > limit) return -1;
    elements *= d;
    if (elements > limit) return -1;
  }
  return elements;
}

servekit::StatusOr<servekit::Tensor> Zeros(servekit::DType dtype, const servekit::Shape& shape,
                                           int64_t limit) {
  if (SmallElementCount(shape, limit) < 0) return absl::ResourceExhaustedError("too large to fuzz");
  ASSIGN_OR_RETURN(servekit::Tensor tensor, servekit::Tensor::Allocate(dtype, shape));
  if (tensor.num_bytes() > 0) std::memset(tensor.raw_data(), 0, tensor.num_bytes());
  return tensor;
}

// Zeros of the dtype and shape that the top-level variable node declares.
servekit::StatusOr<servekit::Tensor> ReadDeclared(const servekit::TopLevelGraph& top_level,
                                                  const std::string& name) {
  ASSIGN_OR_RETURN(const servekit::NodeView* node, top_level.Find(name));
  if (node == nullptr) return absl::NotFoundError("no such top-level node");
  servekit::NodeAttrs attrs;
  RETURN_IF_ERROR(attrs.Read(*node));
  const tensorflow::AttrValue* dtype_attr = attrs.Find("dtype");
  const tensorflow::AttrValue* shape_attr = attrs.Find("shape");
  if (dtype_attr == nullptr || shape_attr == nullptr || shape_attr->shape().unknown_rank() ||
      shape_attr->shape().dim_size() > 8) {
    return absl::InvalidArgumentError("no usable declaration");
  }
  const std::optional<servekit::DType> dtype = servekit::FromTfDataType(dtype_attr->type());
  if (!dtype) return absl::InvalidArgumentError("unsupported dtype");
  servekit::Shape shape;
  for (const auto& dim : shape_attr->shape().dim()) shape.push_back(dim.size());
  return Zeros(*dtype, shape, kMaxVariableElements);
}

}  // namespace

// protobuf logs every string field with invalid UTF-8 it parses; at fuzzing
// speed that is most of the run's time and output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  servekit::StatusOr<servekit::SavedModelMetaGraph> meta_graph =
      servekit::ParseSavedModelMetaGraph(bytes);
  if (!meta_graph.ok()) return 0;

  const servekit::VariableReader read_variable = [&](const std::string& name) {
    return ReadDeclared(meta_graph->top_level, name);
  };
  servekit::LoadOptions options;
  // As in onnx_reader_fuzzer: the engine's default cap is above the fuzzer's
  // RSS limit.
  options.session.max_request_bytes = size_t{256} << 20;

  // One inliner for the signatures, as the loader has (it shares what they
  // share); after an error, a new one for the next signatures (the loader
  // would stop there).
  std::optional<servekit::SignatureInliner> inliner;
  for (const auto& [name, signature] : meta_graph->def->signature_def()) {
    if (absl::StartsWith(name, "__")) continue;  // as the loader: not served
    if (!inliner) inliner.emplace(*meta_graph);
    servekit::StatusOr<servekit::TfSignatureTensors> tensors = inliner->Inline(signature);
    if (!tensors.ok()) {
      inliner.reset();
      continue;
    }
    servekit::StatusOr<servekit::Graph> graph =
        servekit::TranslateSignature(inliner->nodes(), *tensors, signature, read_variable);
    if (!graph.ok()) continue;
    servekit::StatusOr<std::unique_ptr<servekit::Session>> session =
        servekit::BuildSession(*std::move(graph), options);
    if (!session.ok()) continue;

    std::vector<servekit::Tensor> inputs;
    bool small = true;
    for (const servekit::TensorSpec& spec : (*session)->inputs()) {
      servekit::StatusOr<servekit::Tensor> zeros =
          Zeros(spec.dtype, servekit::Evaluate(spec.shape, /*batch=*/1), kMaxInputElements);
      if (!zeros.ok()) {
        small = false;
        break;
      }
      inputs.push_back(*std::move(zeros));
    }
    if (small) (void)(*session)->Run(inputs);
  }
  return 0;
}
