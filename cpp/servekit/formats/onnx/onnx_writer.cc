#include "servekit/formats/onnx/onnx_writer.h"

#include "servekit/formats/onnx/tensor_proto.h"
#include "servekit/proto/onnx.pb.h"

namespace servekit {
namespace {

constexpr int64_t kIrVersion = 8;

// ONNX names dynamic dims; equal names mean equal sizes. The batch dim of an
// input is "N" at axis 0; any other dynamic dim gets a name of its own, and a
// multiple of the batch size cannot be declared on an input at all (a reader
// could not tell "2*N" from a new name).
Status WriteValueInfo(const Value& v, bool is_input, onnx::ValueInfoProto* info) {
  info->set_name(v.name);
  if (v.dtype == DType::kUndefined) return absl::OkStatus();
  auto* tensor_type = info->mutable_type()->mutable_tensor_type();
  tensor_type->set_elem_type(static_cast<int32_t>(v.dtype));
  if (!v.typed) return absl::OkStatus();
  auto* shape = tensor_type->mutable_shape();
  for (size_t axis = 0; axis < v.shape.size(); ++axis) {
    const Dim& d = v.shape[axis];
    auto* dim = shape->add_dim();
    if (d.is_fixed()) {
      dim->set_dim_value(d.value());
    } else if (is_input && d.value() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("input '", v.name, "' has dimension ",
                                                     d.ToString(),
                                                     ", which an ONNX file cannot declare"));
    } else if (axis == 0 || !is_input) {
      dim->set_dim_param(d.ToString());
    } else {
      dim->set_dim_param(absl::StrCat("d", axis));
    }
  }
  return absl::OkStatus();
}

Status WriteAttribute(const std::string& name, const AttributeValue& value,
                      onnx::AttributeProto* a) {
  a->set_name(name);
  using T = onnx::AttributeProto;
  if (auto* i = std::get_if<int64_t>(&value)) {
    a->set_type(T::INT);
    a->set_i(*i);
  } else if (auto* f = std::get_if<float>(&value)) {
    a->set_type(T::FLOAT);
    a->set_f(*f);
  } else if (auto* s = std::get_if<std::string>(&value)) {
    a->set_type(T::STRING);
    a->set_s(*s);
  } else if (auto* is = std::get_if<std::vector<int64_t>>(&value)) {
    a->set_type(T::INTS);
    for (int64_t x : *is) a->add_ints(x);
  } else if (auto* fs = std::get_if<std::vector<float>>(&value)) {
    a->set_type(T::FLOATS);
    for (float x : *fs) a->add_floats(x);
  } else if (auto* t = std::get_if<Tensor>(&value)) {
    a->set_type(T::TENSOR);
    TensorToProto(*t, "", a->mutable_t());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute '", name, "' has an unsupported type"));
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::string> WriteOnnxModel(const Graph& graph, const std::string& producer_name,
                                     const std::string& graph_name) {
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name(producer_name);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(graph.opset);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(graph_name);
  const std::vector<int> producers = graph.Producers();
  for (int id : graph.inputs)
    RETURN_IF_ERROR(WriteValueInfo(graph.values[id], true, g->add_input()));
  for (size_t id = 0; id < graph.values.size(); ++id) {
    const Value& v = graph.values[id];
    if (v.constant.has_value() && producers[id] < 0)
      TensorToProto(*v.constant, v.name, g->add_initializer());
  }
  for (const Node& node : graph.nodes) {
    onnx::NodeProto* n = g->add_node();
    n->set_name(node.name);
    n->set_op_type(node.op_type);
    for (int id : node.inputs) n->add_input(id >= 0 ? graph.values[id].name : "");
    for (int id : node.outputs) n->add_output(graph.values[id].name);
    for (const auto& [name, value] : node.attributes.all()) {
      Status written = WriteAttribute(name, value, n->add_attribute());
      if (!written.ok())
        return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": ", written.message()));
    }
  }
  for (int id : graph.outputs)
    RETURN_IF_ERROR(WriteValueInfo(graph.values[id], false, g->add_output()));
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return absl::InternalError("cannot serialize the model");
  return bytes;
}

}  // namespace servekit
