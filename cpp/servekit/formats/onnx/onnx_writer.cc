#include "servekit/formats/onnx/onnx_writer.h"

#include "servekit/formats/onnx/tensor_proto.h"
#include "servekit/proto/onnx.pb.h"

namespace servekit {
namespace {

constexpr int64_t kIrVersion = 8;

void WriteValueInfo(const Value& v, onnx::ValueInfoProto* info) {
  info->set_name(v.name);
  if (v.dtype == DType::kUndefined) return;
  auto* tensor_type = info->mutable_type()->mutable_tensor_type();
  tensor_type->set_elem_type(static_cast<int32_t>(v.dtype));
  if (!v.typed) return;
  auto* shape = tensor_type->mutable_shape();
  for (const Dim& d : v.shape) {
    auto* dim = shape->add_dim();
    if (d.is_fixed()) {
      dim->set_dim_value(d.value());
    } else {
      dim->set_dim_param(d.value() == 1 ? "N" : d.ToString());
    }
  }
}

Status WriteAttribute(const std::string& name, const AttributeValue& value, onnx::AttributeProto* a) {
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
    return absl::InvalidArgumentError(absl::StrCat("attribute '", name, "' has an unsupported type"));
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
  for (int id : graph.inputs) WriteValueInfo(graph.values[id], g->add_input());
  for (size_t id = 0; id < graph.values.size(); ++id) {
    const Value& v = graph.values[id];
    if (v.constant.has_value() && producers[id] < 0) TensorToProto(*v.constant, v.name, g->add_initializer());
  }
  for (const Node& node : graph.nodes) {
    onnx::NodeProto* n = g->add_node();
    n->set_name(node.name);
    n->set_op_type(node.op_type);
    for (int id : node.inputs) n->add_input(id >= 0 ? graph.values[id].name : "");
    for (int id : node.outputs) n->add_output(graph.values[id].name);
    for (const auto& [name, value] : node.attributes.all()) {
      Status written = WriteAttribute(name, value, n->add_attribute());
      if (!written.ok()) return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": ", written.message()));
    }
  }
  for (int id : graph.outputs) WriteValueInfo(graph.values[id], g->add_output());
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return absl::InternalError("cannot serialize the model");
  return bytes;
}

}  // namespace servekit
