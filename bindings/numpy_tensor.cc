#include "numpy_tensor.h"

namespace py = pybind11;

namespace servekit::bindings {

DType DTypeFromNumpy(const py::dtype& dtype) {
  if (dtype.is(py::dtype::of<float>())) return DType::kFloat32;
  if (dtype.is(py::dtype::of<double>())) return DType::kFloat64;
  if (dtype.is(py::dtype::of<int64_t>())) return DType::kInt64;
  if (dtype.is(py::dtype::of<int32_t>())) return DType::kInt32;
  if (dtype.is(py::dtype::of<int8_t>())) return DType::kInt8;
  if (dtype.is(py::dtype::of<uint8_t>())) return DType::kUInt8;
  if (dtype.is(py::dtype::of<bool>())) return DType::kBool;
  return DType::kUndefined;
}

py::dtype NumpyDType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return py::dtype::of<float>();
    case DType::kFloat64:
      return py::dtype::of<double>();
    case DType::kInt64:
      return py::dtype::of<int64_t>();
    case DType::kInt32:
      return py::dtype::of<int32_t>();
    case DType::kInt8:
      return py::dtype::of<int8_t>();
    case DType::kUInt8:
      return py::dtype::of<uint8_t>();
    case DType::kBool:
      return py::dtype::of<bool>();
    case DType::kUndefined:
      break;
  }
  throw py::type_error("tensor has no numpy dtype");
}

Tensor TensorViewOf(const py::array& array, const std::string& what) {
  const DType dtype = DTypeFromNumpy(array.dtype());
  if (dtype == DType::kUndefined) {
    throw py::type_error(what + " has unsupported dtype " +
                         py::str(array.dtype()).cast<std::string>());
  }
  if (!(array.flags() & py::array::c_style)) {
    throw py::type_error(what + " must be C-contiguous (use numpy.ascontiguousarray)");
  }
  Shape shape(array.shape(), array.shape() + array.ndim());
  return Tensor::View(dtype, std::move(shape), const_cast<void*>(array.data()));
}

std::vector<Tensor> InputViewsOf(const std::vector<py::array>& arrays,
                                 const std::vector<TensorSpec>& specs) {
  std::vector<Tensor> inputs;
  inputs.reserve(arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    const std::string what =
        i < specs.size() ? "input '" + specs[i].name + "'" : "input " + std::to_string(i);
    inputs.push_back(TensorViewOf(arrays[i], what));
  }
  return inputs;
}

py::array ArrayOf(Tensor tensor) {
  auto* owner = new Tensor(std::move(tensor));
  py::capsule keep_alive(owner, [](void* p) { delete static_cast<Tensor*>(p); });
  std::vector<py::ssize_t> shape(owner->shape().begin(), owner->shape().end());
  return py::array(NumpyDType(owner->dtype()), shape, owner->raw_data(), keep_alive);
}

py::list ShapeToPython(const SymShape& shape) {
  py::list out;
  for (const Dim& d : shape) {
    if (d.is_fixed()) {
      out.append(d.value());
    } else {
      out.append(py::none());
    }
  }
  return out;
}

}  // namespace servekit::bindings
