#include "servekit/formats/onnx/onnx_reader.h"

#include <cstring>
#include <filesystem>
#include <limits>

#include "absl/strings/escaping.h"
#include "google/protobuf/stubs/common.h"
#include "servekit/formats/onnx/tensor_proto.h"
#include "servekit/proto/onnx.pb.h"
#include "servekit/util/read_file.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;
namespace onnx = ::servekit::onnx;

constexpr int64_t kMinOpset = 13;

Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

// Names become Python strings and JSON keys: they must be UTF-8 (protobuf's
// proto2 string fields do not guarantee it).
std::string EscapeBytes(const std::string& name) { return absl::CHexEscape(name); }

Status CheckUtf8(const std::string& name, const char* what) {
  if (google::protobuf::internal::IsStructurallyValidUTF8(name.data(),
                                                          static_cast<int>(name.size()))) {
    return absl::OkStatus();
  }
  return Invalid(absl::StrCat("a ", what, " is not valid UTF-8: '", EscapeBytes(name), "'"));
}

StatusOr<int64_t> DefaultOpset(const onnx::ModelProto& model) {
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") {
      if (opset.version() < kMinOpset) {
        return Invalid(absl::StrCat("the model uses opset ", opset.version(),
                                    "; servekit supports opset ", kMinOpset,
                                    " and newer (re-export with a newer opset)"));
      }
      return opset.version();
    }
  }
  return Invalid("the model imports no version of the default ONNX operator set");
}

// An input's declared shape: the first dim may be symbolic (the batch); any
// other symbolic dim is not supported.
StatusOr<SymShape> ReadInputShape(const onnx::ValueInfoProto& info) {
  const auto& type = info.type().tensor_type();
  if (!type.has_shape()) {
    return Invalid(
        absl::StrCat("input '", info.name(), "' has no shape; servekit needs input ranks"));
  }
  SymShape shape;
  for (int d = 0; d < type.shape().dim_size(); ++d) {
    const auto& dim = type.shape().dim(d);
    if (dim.has_dim_value()) {
      if (dim.dim_value() < 0) {
        return Invalid(
            absl::StrCat("input '", info.name(), "' has negative dimension ", dim.dim_value()));
      }
      shape.push_back(Dim::Fixed(dim.dim_value()));
    } else if (d == 0) {
      shape.push_back(Dim::Batch());
    } else {
      return Invalid(absl::StrCat("input '", info.name(), "' has a dynamic dimension at axis ", d,
                                  " ('", dim.dim_param(),
                                  "'); only the first (batch) dimension may be dynamic"));
    }
  }
  return shape;
}

StatusOr<AttributeValue> ReadAttribute(const onnx::AttributeProto& a, const std::string& base_dir) {
  if (!a.ref_attr_name().empty())
    return Invalid("attribute references (functions) are not supported");
  using T = onnx::AttributeProto;
  switch (a.type()) {
    case T::FLOAT:
      return AttributeValue(a.f());
    case T::INT:
      return AttributeValue(static_cast<int64_t>(a.i()));
    case T::STRING:
      return AttributeValue(a.s());
    case T::INTS:
      return AttributeValue(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    case T::FLOATS:
      return AttributeValue(std::vector<float>(a.floats().begin(), a.floats().end()));
    case T::TENSOR: {
      ASSIGN_OR_RETURN(Tensor t, TensorFromProto(a.t(), base_dir));
      return AttributeValue(std::move(t));
    }
    default:
      return Invalid(
          absl::StrCat("attribute type ", static_cast<int>(a.type()), " is not supported"));
  }
}

}  // namespace

StatusOr<Graph> ReadOnnxModel(const std::string& bytes, const std::string& base_dir) {
  if (bytes.empty()) return Invalid("the model file is empty");
  onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !model.ParseFromString(bytes)) {
    return Invalid("the model file is not a valid ONNX protobuf (truncated or corrupt)");
  }
  if (!model.has_graph()) return Invalid("the model file has no graph (not an ONNX model?)");
  Graph graph;
  ASSIGN_OR_RETURN(graph.opset, DefaultOpset(model));
  const onnx::GraphProto& g = model.graph();

  for (const auto& init : g.initializer()) {
    if (init.name().empty()) return Invalid("an initializer has no name");
    RETURN_IF_ERROR(CheckUtf8(init.name(), "initializer name"));
    if (graph.FindValue(init.name()) >= 0)
      return Invalid(absl::StrCat("initializer '", init.name(), "' is defined twice"));
    auto tensor = TensorFromProto(init, base_dir);
    if (!tensor.ok())
      return Invalid(absl::StrCat("initializer '", init.name(), "': ", tensor.status().message()));
    graph.AddConstant(init.name(), *std::move(tensor));
  }
  for (const auto& info : g.input()) {
    if (graph.FindValue(info.name()) >= 0)
      continue;  // an initializer with a declared input: a constant
    if (info.name().empty()) return Invalid("a graph input has no name");
    RETURN_IF_ERROR(CheckUtf8(info.name(), "input name"));
    const int32_t elem_type = info.type().tensor_type().elem_type();
    if (!info.type().has_tensor_type() || !IsSupportedDType(elem_type)) {
      return Invalid(absl::StrCat("input '", info.name(),
                                  "' has an unsupported type (element type ", elem_type, ")"));
    }
    ASSIGN_OR_RETURN(SymShape shape, ReadInputShape(info));
    const int id = graph.AddValue(info.name());
    Value& v = graph.values[id];
    v.dtype = static_cast<DType>(elem_type);
    v.shape = std::move(shape);
    v.typed = true;
    graph.inputs.push_back(id);
  }
  if (graph.inputs.empty()) return Invalid("the model has no runtime inputs");

  // Two passes: every node output is defined first, so inputs may name values
  // produced later in the file (InferGraph sorts the nodes and reports cycles).
  for (int n = 0; n < g.node_size(); ++n) {
    const onnx::NodeProto& proto = g.node(n);
    Node node;
    node.op_type = proto.op_type();
    node.name = proto.name().empty() ? absl::StrCat(proto.op_type(), "_", n) : proto.name();
    RETURN_IF_ERROR(CheckUtf8(node.name, "node name"));
    RETURN_IF_ERROR(CheckUtf8(node.op_type, "operator name"));
    if (!proto.domain().empty() && proto.domain() != "ai.onnx") {
      return Invalid(absl::StrCat(node.Describe(), ": operators of domain '", proto.domain(),
                                  "' are not supported"));
    }
    for (int k = 0; k < proto.output_size(); ++k) {
      const std::string& name = proto.output(k);
      if (name.empty()) {
        // An optional output nobody reads; trailing ones are simply dropped.
        bool later_named = false;
        for (int j = k + 1; j < proto.output_size(); ++j)
          later_named = later_named || !proto.output(j).empty();
        if (!later_named) break;
        node.outputs.push_back(graph.AddValue(absl::StrCat(node.name, "_unused_output")));
        continue;
      }
      RETURN_IF_ERROR(CheckUtf8(name, "value name"));
      if (graph.FindValue(name) >= 0) {
        return Invalid(
            absl::StrCat(node.Describe(), ": output '", name, "' is already defined elsewhere"));
      }
      node.outputs.push_back(graph.AddValue(name));
    }
    if (node.outputs.empty()) return Invalid(absl::StrCat(node.Describe(), ": has no outputs"));
    graph.nodes.push_back(std::move(node));
  }
  for (int n = 0; n < g.node_size(); ++n) {
    const onnx::NodeProto& proto = g.node(n);
    Node& node = graph.nodes[n];
    for (const std::string& name : proto.input()) {
      if (name.empty()) {
        node.inputs.push_back(-1);
        continue;
      }
      const int id = graph.FindValue(name);
      if (id < 0) {
        return Invalid(absl::StrCat(node.Describe(), ": input '", EscapeBytes(name),
                                    "' is not defined by any node, graph input or initializer"));
      }
      node.inputs.push_back(id);
    }
    for (const auto& a : proto.attribute()) {
      auto value = ReadAttribute(a, base_dir);
      if (!value.ok()) {
        return Invalid(absl::StrCat(node.Describe(), ": attribute '", EscapeBytes(a.name()),
                                    "': ", value.status().message()));
      }
      node.attributes.Set(a.name(), *std::move(value));
    }
  }
  for (const auto& info : g.output()) {
    const int id = graph.FindValue(info.name());
    if (id < 0) {
      return Invalid(absl::StrCat("graph output '", EscapeBytes(info.name()),
                                  "' is not computed by any node"));
    }
    graph.outputs.push_back(id);
  }
  if (graph.outputs.empty()) return Invalid("the model has no outputs");
  return graph;
}

StatusOr<Graph> ReadOnnxFile(const std::string& path) {
  std::error_code error;
  fs::path file = path;
  if (fs::is_directory(file, error)) file /= "model.onnx";
  if (!fs::exists(file, error))
    return absl::NotFoundError(absl::StrCat("no model file at '", file.string(), "'"));
  // A regular file only (a FIFO would be waited on), and no more than
  // protobuf can parse (under 2 GiB).
  ASSIGN_OR_RETURN(std::string bytes,
                   ReadRegularFileToString(file.string(), std::numeric_limits<int>::max()));
  auto graph = ReadOnnxModel(bytes, file.parent_path().string());
  if (!graph.ok()) {
    return absl::Status(graph.status().code(),
                        absl::StrCat(file.string(), ": ", graph.status().message()));
  }
  return graph;
}

}  // namespace servekit
