// Fuzzes the reading of saved_model.pb (formats/savedmodel/saved_model_file.h):
// the input is the file's bytes, parsed as a SavedModel with the .proto files
// written in this repo, and the meta graph tagged {serve} picked out. What
// follows the meta graph (inlining, translation, shape inference) has its own
// target, saved_model_translate_fuzzer, seeded with slimmed files.
#include <cstddef>
#include <cstdint>

#include "google/protobuf/stubs/logging.h"
#include "servekit/formats/savedmodel/saved_model_file.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  servekit::StatusOr<tensorflow::MetaGraphDef> meta_graph =
      servekit::ParseSavedModelMetaGraph(bytes);
  if (!meta_graph.ok()) return 0;
  // Walk what the loader reads first: the signatures and their tensors.
  for (const auto& [name, signature] : meta_graph->signature_def()) {
    for (const auto& [alias, info] : signature.inputs()) (void)info.tensor_shape().dim_size();
  }
  return 0;
}
