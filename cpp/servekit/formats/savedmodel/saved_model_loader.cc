#include "servekit/formats/savedmodel/saved_model_loader.h"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "servekit/formats/savedmodel/function_inliner.h"
#include "servekit/formats/savedmodel/node_attrs.h"
#include "servekit/formats/savedmodel/parse_arena.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/formats/savedmodel/tensor_bundle.h"
#include "servekit/formats/savedmodel/tf_translator.h"
#include "servekit/formats/savedmodel/variable_keys.h"
#include "servekit/formats/tf_data_type.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

// The inputs' and outputs' keys, dtypes and declared shapes: what a Session
// takes from the SignatureDef besides the graph.
std::string DeclaredTensors(const tensorflow::SignatureDef& signature) {
  std::string out;
  for (const auto* map : {&signature.inputs(), &signature.outputs()}) {
    std::map<std::string, const tensorflow::TensorInfo*> sorted;
    for (const auto& [key, info] : *map) sorted[key] = &info;
    for (const auto& [key, info] : sorted) {
      absl::StrAppend(&out, key.size(), ":", key, info->dtype(), ":",
                      info->tensor_shape().SerializeAsString().size(), ":",
                      info->tensor_shape().SerializeAsString(), ";");
    }
    out += "|";
  }
  return out;
}

// A declared shape as ShapeToString writes a tensor's ("[2, ?, 3]", "?" for an
// unknown (-1) dim); null (no shape attribute) or an unknown rank as
// "<unknown rank>".
std::string DeclaredShapeString(const tensorflow::TensorShapeProto* shape) {
  if (shape == nullptr || shape->unknown_rank()) return "<unknown rank>";
  std::vector<std::string> dims;
  for (const auto& dim : shape->dim())
    dims.push_back(dim.size() < 0 ? "?" : absl::StrCat(dim.size()));
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

// Checks a checkpoint value against what the graph's variable node (VarHandleOp,
// VariableV2) declares in its `dtype` and `shape` attributes. Shape inference
// would catch most mismatches too, but at some op downstream that does not
// know where its input came from; here the message can name the variable and
// its key. Unknown dims (-1), an unknown rank or a missing attribute declare
// nothing.
Status CheckAgainstDeclaration(const NodeView& node, const std::string& key, const Tensor& value) {
  tensorflow::AttrValue shape, dtype;
  ASSIGN_OR_RETURN(const bool has_shape, FindNodeAttr(node, "shape", &shape));
  ASSIGN_OR_RETURN(const bool has_dtype, FindNodeAttr(node, "dtype", &dtype));
  const tensorflow::TensorShapeProto* declared_shape = nullptr;
  if (has_shape && shape.value_case() == tensorflow::AttrValue::kShape) {
    declared_shape = &shape.shape();
  }
  bool same = true;
  std::optional<tensorflow::DataType> declared_dtype;
  if (has_dtype && dtype.value_case() == tensorflow::AttrValue::kType) {
    declared_dtype = dtype.type();
    const std::optional<DType> declared = FromTfDataType(*declared_dtype);
    same = declared.has_value() && *declared == value.dtype();
  }
  if (declared_shape != nullptr && !declared_shape->unknown_rank()) {
    same = same && declared_shape->dim_size() == value.rank();
    for (int d = 0; same && d < declared_shape->dim_size(); ++d) {
      const int64_t size = declared_shape->dim(d).size();
      same = size < 0 || size == value.shape()[d];
    }
  }
  if (same) return absl::OkStatus();
  // Named only here: the enum's name comes from protobuf's descriptors, whose
  // first use costs a fresh process ~0.2 ms.
  const std::string declared_type =
      declared_dtype ? absl::StrCat(TfDataTypeEnumName(*declared_dtype), " ") : std::string();
  return absl::InvalidArgumentError(absl::StrCat(
      "variable '", node.name(), "' (checkpoint key '", key, "'): the checkpoint holds ",
      TfDataTypeName(value.dtype()), " ", ShapeToString(value.shape()), " but the graph's ",
      node.op(), " declares ", declared_type, DeclaredShapeString(declared_shape)));
}

}  // namespace

StatusOr<std::shared_ptr<const LoadedModel>> LoadSavedModel(const std::string& dir,
                                                            const LoadOptions& options) {
  ASSIGN_OR_RETURN(SavedModelMetaGraph meta_graph, ReadSavedModelMetaGraph(dir));

  // Variables: a model without any (only constants) has no variables/ directory.
  std::optional<TensorBundle> bundle;
  // A Keras model's object graph takes a few KB per layer once parsed.
  const std::unique_ptr<google::protobuf::Arena> object_graph_arena =
      NewParseArena(size_t{16} << 10);
  const tensorflow::TrackableObjectGraph* object_graph = nullptr;
  const std::string prefix = (fs::path(dir) / "variables" / "variables").string();
  std::error_code error;
  if (fs::exists(prefix + ".index", error)) {
    ASSIGN_OR_RETURN(TensorBundle opened, TensorBundle::Open(prefix));
    bundle.emplace(std::move(opened));
    StatusOr<const tensorflow::TrackableObjectGraph*> read =
        bundle->ReadObjectGraph(object_graph_arena.get());
    if (read.ok()) {
      object_graph = *read;
    } else if (!absl::IsNotFound(read.status())) {
      return read.status();
    }
  }
  const VariableCheckpointKeys keys(meta_graph, object_graph);
  const VariableReader read_variable = [&](const std::string& node) -> StatusOr<Tensor> {
    const std::string* key = keys.Find(node);
    if (key == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("variable '", node, "' has no value in the checkpoint (no key maps to it)"));
    }
    if (!bundle) {
      return absl::InvalidArgumentError(absl::StrCat(
          "variable '", node, "' is read but the SavedModel has no variables/variables.index"));
    }
    ASSIGN_OR_RETURN(Tensor value, bundle->Read(*key));
    // What the variable's node declares (parsed already: the inliner reached it).
    ASSIGN_OR_RETURN(const NodeView* declared, meta_graph.top_level.Find(node));
    if (declared != nullptr) RETURN_IF_ERROR(CheckAgainstDeclaration(*declared, *key, value));
    return value;
  };

  std::vector<std::pair<std::string, const tensorflow::SignatureDef*>> defs;
  for (const auto& [name, def] : meta_graph.def->signature_def()) {
    if (absl::StartsWith(name, "__")) continue;  // __saved_model_init_op: not served
    defs.emplace_back(name, &def);
  }
  std::sort(defs.begin(), defs.end());
  if (defs.empty()) return absl::InvalidArgumentError("the SavedModel declares no signatures");

  // Sessions built so far, with what they compute: a signature that computes
  // the same as an earlier one (Keras 3's `serve` and `serving_default`)
  // shares its Session. The inliner finds that out as it goes (the second
  // signature's function calls are the first's), so the second is neither
  // inlined again nor translated.
  struct Built {
    TfSignatureTensors tensors;
    std::string declared;
    std::shared_ptr<const Session> session;
  };
  std::vector<Built> built;
  std::vector<LoadedSignature> signatures;
  SignatureInliner inliner(meta_graph);
  for (const auto& [name, def] : defs) {
    auto fail = [&, name = name](const Status& status) {
      return absl::Status(status.code(),
                          absl::StrCat("signature '", name, "': ", status.message()));
    };
    StatusOr<TfSignatureTensors> tensors = inliner.Inline(*def);
    if (!tensors.ok()) return fail(tensors.status());
    std::string declared = DeclaredTensors(*def);
    std::shared_ptr<const Session> session;
    for (const Built& earlier : built) {
      if (earlier.declared == declared && SameTensors(earlier.tensors, *tensors)) {
        session = earlier.session;
        break;
      }
    }
    if (session == nullptr) {
      StatusOr<Graph> graph = TranslateSignature(inliner.nodes(), *tensors, *def, read_variable);
      if (!graph.ok()) return fail(graph.status());
      StatusOr<std::unique_ptr<Session>> made = BuildSession(*std::move(graph), options);
      if (!made.ok()) return fail(made.status());
      session = std::shared_ptr<const Session>(*std::move(made));
      built.push_back({*std::move(tensors), std::move(declared), session});
    }
    std::string method = def->method_name().empty() ? kPredictMethodName : def->method_name();
    signatures.push_back({name, std::move(method), std::move(session)});
  }
  return std::make_shared<const LoadedModel>(std::move(signatures));
}

}  // namespace servekit
