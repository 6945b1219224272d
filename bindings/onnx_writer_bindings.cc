// servekit._core.serialize_onnx(spec) -> bytes: the Python builder describes its
// graph as plain Python data (see python/servekit/_export.py) and this turns it
// into an ONNX ModelProto with the same writer the C++ side uses.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>

#include "areas.h"
#include "numpy_tensor.h"
#include "servekit/formats/onnx/onnx_writer.h"
#include "status_exceptions.h"

namespace py = pybind11;

namespace servekit::bindings {
namespace {

DType DTypeFromName(const py::handle& name) {
  const DType dtype =
      DTypeFromNumpy(py::dtype::from_args(py::reinterpret_borrow<py::object>(name)));
  if (dtype == DType::kUndefined)
    throw py::type_error("unsupported dtype " + py::str(name).cast<std::string>());
  return dtype;
}

SymShape ShapeFromPython(const py::handle& shape) {
  SymShape out;
  for (const py::handle& d : shape) {
    out.push_back(d.is_none() ? Dim::Batch() : Dim::Fixed(d.cast<int64_t>()));
  }
  return out;
}

Tensor CopyArray(const py::handle& value, const std::string& what) {
  py::array array = py::array::ensure(value, py::array::c_style);
  if (!array) throw py::type_error(what + " must be a numpy array");
  Tensor view = TensorViewOf(array, what);
  return ValueOrThrow(view.Clone());
}

AttributeValue AttributeFromPython(const py::handle& value, const std::string& what) {
  if (py::isinstance<py::bool_>(value) || py::isinstance<py::int_>(value))
    return value.cast<int64_t>();
  if (py::isinstance<py::float_>(value)) return value.cast<float>();
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::array>(value)) return CopyArray(value, what);
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    py::sequence items = py::reinterpret_borrow<py::sequence>(value);
    bool all_ints = true;
    for (const py::handle& item : items) all_ints = all_ints && py::isinstance<py::int_>(item);
    if (all_ints) return items.cast<std::vector<int64_t>>();
    return items.cast<std::vector<float>>();
  }
  throw py::type_error(what + " has an unsupported attribute type");
}

py::bytes SerializeOnnx(const py::dict& spec) {
  Graph graph;
  graph.opset = spec["opset"].cast<int64_t>();
  for (const py::handle& item : spec["inputs"]) {
    auto t = item.cast<py::tuple>();
    const int id = graph.AddValue(t[0].cast<std::string>());
    Value& v = graph.values[id];
    v.dtype = DTypeFromName(t[1]);
    v.shape = ShapeFromPython(t[2]);
    v.typed = true;
    graph.inputs.push_back(id);
  }
  for (const py::handle& item : spec["initializers"]) {
    auto t = item.cast<py::tuple>();
    const std::string name = t[0].cast<std::string>();
    if (graph.FindValue(name) >= 0)
      throw py::value_error("initializer '" + name + "' is defined twice");
    graph.AddConstant(name, CopyArray(t[1], "initializer '" + name + "'"));
  }
  for (const py::handle& item : spec["nodes"]) {
    auto t = item.cast<py::tuple>();
    Node node;
    node.op_type = t[0].cast<std::string>();
    node.name = t[1].cast<std::string>();
    for (const py::handle& in : t[2]) {
      const std::string name = in.cast<std::string>();
      const int id = name.empty() ? -1 : graph.FindValue(name);
      if (!name.empty() && id < 0)
        throw py::value_error(node.Describe() + ": unknown input '" + name + "'");
      node.inputs.push_back(id);
    }
    for (const py::handle& out : t[3]) {
      const std::string name = out.cast<std::string>();
      if (graph.FindValue(name) >= 0)
        throw py::value_error(node.Describe() + ": output '" + name + "' is defined twice");
      node.outputs.push_back(graph.AddValue(name));
    }
    for (const auto& [key, value] : t[4].cast<py::dict>()) {
      const std::string name = key.cast<std::string>();
      node.attributes.Set(
          name, AttributeFromPython(value, node.Describe() + " attribute '" + name + "'"));
    }
    graph.nodes.push_back(std::move(node));
  }
  for (const py::handle& item : spec["outputs"]) {
    auto t = item.cast<py::tuple>();
    const std::string name = t[0].cast<std::string>();
    const int id = graph.FindValue(name);
    if (id < 0) throw py::value_error("output '" + name + "' is not produced by any node");
    Value& v = graph.values[id];
    v.dtype = DTypeFromName(t[1]);
    if (!t[2].is_none()) {
      v.shape = ShapeFromPython(t[2]);
      v.typed = true;
    }
    graph.outputs.push_back(id);
  }
  const std::string producer =
      spec.contains("producer_name") ? spec["producer_name"].cast<std::string>() : "servekit";
  const std::string graph_name =
      spec.contains("graph_name") ? spec["graph_name"].cast<std::string>() : "model";
  std::string bytes = ValueOrThrow(WriteOnnxModel(graph, producer, graph_name));
  return py::bytes(bytes);
}

}  // namespace

void RegisterOnnxWriter(py::module_& m) {
  m.def("serialize_onnx", &SerializeOnnx, py::arg("spec"),
        "Serializes a model spec {opset, inputs, outputs, initializers, nodes} to ONNX bytes.");
}

}  // namespace servekit::bindings
