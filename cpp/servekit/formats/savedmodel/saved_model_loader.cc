#include "servekit/formats/savedmodel/saved_model_loader.h"

#include <filesystem>
#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "servekit/formats/savedmodel/function_inliner.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/formats/savedmodel/tensor_bundle.h"
#include "servekit/formats/savedmodel/tf_translator.h"
#include "servekit/formats/savedmodel/variable_keys.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

// What a signature computes: its inputs' and outputs' keys and tensors. Two
// signatures with the same one share a Session.
std::string Computation(const tensorflow::SignatureDef& signature) {
  std::map<std::string, std::string> inputs;
  for (const auto& [key, info] : signature.inputs()) inputs[key] = info.name();
  std::map<std::string, std::string> outputs;
  for (const auto& [key, info] : signature.outputs()) outputs[key] = info.name();
  std::string out;
  for (const auto& [key, name] : inputs) absl::StrAppend(&out, "in ", key, "=", name, ";");
  for (const auto& [key, name] : outputs) absl::StrAppend(&out, "out ", key, "=", name, ";");
  return out;
}

}  // namespace

StatusOr<std::shared_ptr<const LoadedModel>> LoadSavedModel(const std::string& dir,
                                                            const LoadOptions& options) {
  ASSIGN_OR_RETURN(tensorflow::MetaGraphDef meta_graph, ReadSavedModelMetaGraph(dir));

  // Variables: a model without any (only constants) has no variables/ directory.
  std::optional<TensorBundle> bundle;
  std::optional<tensorflow::TrackableObjectGraph> object_graph;
  const std::string prefix = (fs::path(dir) / "variables" / "variables").string();
  std::error_code error;
  if (fs::exists(prefix + ".index", error)) {
    ASSIGN_OR_RETURN(TensorBundle opened, TensorBundle::Open(prefix));
    bundle.emplace(std::move(opened));
    StatusOr<tensorflow::TrackableObjectGraph> read = bundle->ReadObjectGraph();
    if (read.ok()) {
      object_graph.emplace(*std::move(read));
    } else if (!absl::IsNotFound(read.status())) {
      return read.status();
    }
  }
  const std::map<std::string, std::string> keys =
      VariableCheckpointKeys(meta_graph, object_graph ? &*object_graph : nullptr);
  const VariableReader read_variable = [&](const std::string& node) -> StatusOr<Tensor> {
    auto key = keys.find(node);
    if (key == keys.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("variable '", node, "' has no value in the checkpoint (no key maps to it)"));
    }
    if (!bundle) {
      return absl::InvalidArgumentError(absl::StrCat(
          "variable '", node, "' is read but the SavedModel has no variables/variables.index"));
    }
    return bundle->Read(key->second);
  };

  std::vector<LoadedSignature> signatures;
  std::map<std::string, std::shared_ptr<const Session>> sessions;  // by Computation
  std::vector<std::pair<std::string, const tensorflow::SignatureDef*>> defs;
  for (const auto& [name, def] : meta_graph.signature_def()) {
    if (absl::StartsWith(name, "__")) continue;  // __saved_model_init_op: not served
    defs.emplace_back(name, &def);
  }
  std::sort(defs.begin(), defs.end());
  if (defs.empty()) return absl::InvalidArgumentError("the SavedModel declares no signatures");
  for (const auto& [name, def] : defs) {
    auto fail = [&, name = name](const Status& status) {
      return absl::Status(status.code(),
                          absl::StrCat("signature '", name, "': ", status.message()));
    };
    std::shared_ptr<const Session>& session = sessions[Computation(*def)];
    if (session == nullptr) {
      StatusOr<TfFlatGraph> flat = InlineSignature(meta_graph, *def);
      if (!flat.ok()) return fail(flat.status());
      StatusOr<Graph> graph = TranslateSignature(*flat, *def, read_variable);
      if (!graph.ok()) return fail(graph.status());
      StatusOr<std::unique_ptr<Session>> built = BuildSession(*std::move(graph), options);
      if (!built.ok()) return fail(built.status());
      session = std::shared_ptr<const Session>(*std::move(built));
    }
    std::string method = def->method_name().empty() ? kPredictMethodName : def->method_name();
    signatures.push_back({name, std::move(method), session});
  }
  return std::make_shared<const LoadedModel>(std::move(signatures));
}

}  // namespace servekit
