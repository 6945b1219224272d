// Loading and running models: servekit._core.Model.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "areas.h"
#include "numpy_tensor.h"
#include "servekit/formats/model_loader.h"
#include "servekit/kernels/gemm.h"
#include "status_exceptions.h"

namespace py = pybind11;

namespace servekit::bindings {
namespace {

LoadOptions Options(int intra_op_threads, bool optimize) {
  if (intra_op_threads < 1) throw py::value_error("intra_op_threads must be >= 1");
  LoadOptions options;
  options.session.intra_op_threads = intra_op_threads;
  options.optimize = optimize;
  return options;
}

py::list Specs(const std::vector<TensorSpec>& specs) {
  py::list out;
  for (const TensorSpec& s : specs) {
    out.append(py::make_tuple(s.name, std::string(DTypeName(s.dtype)), ShapeToPython(s.shape)));
  }
  return out;
}

std::shared_ptr<Session> Load(const std::string& path, int threads, bool optimize) {
  absl::StatusOr<std::unique_ptr<Session>> session;
  {
    py::gil_scoped_release release;
    session = LoadModel(path, Options(threads, optimize));
  }
  return ValueOrThrow(std::move(session));
}

// A version's signatures: [(name, method name, Model)].
py::list LoadVersion(const std::string& path, int threads) {
  absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded;
  {
    py::gil_scoped_release release;
    loaded = LoadModelVersion(path, Options(threads, true));
  }
  std::shared_ptr<const LoadedModel> model = ValueOrThrow(std::move(loaded));
  py::list out;
  for (const LoadedSignature& signature : model->signatures()) {
    // Model objects are mutable Sessions to pybind11; the loader's are const
    // and nothing mutates a Session after Create.
    out.append(py::make_tuple(signature.name, signature.method_name,
                              std::const_pointer_cast<Session>(signature.session)));
  }
  return out;
}

std::shared_ptr<Session> LoadBytes(const py::bytes& data, int threads, bool optimize) {
  std::string bytes = data;
  absl::StatusOr<std::unique_ptr<Session>> session;
  {
    py::gil_scoped_release release;
    session = LoadModelFromBytes(bytes, Options(threads, optimize));
  }
  return ValueOrThrow(std::move(session));
}

// Inputs in signature order; each a C-contiguous array of the exact dtype.
py::list Run(const Session& session, const std::vector<py::array>& arrays) {
  std::vector<Tensor> inputs = InputViewsOf(arrays, session.inputs());
  absl::StatusOr<std::vector<Tensor>> outputs;
  {
    py::gil_scoped_release release;
    outputs = session.Run(inputs);
  }
  std::vector<Tensor> results = ValueOrThrow(std::move(outputs));
  py::list out;
  for (Tensor& t : results) out.append(ArrayOf(std::move(t)));
  return out;
}

// Runs `repeats` times; returns [(step description, mean microseconds)].
py::list Profile(const Session& session, const std::vector<py::array>& arrays, int repeats) {
  std::vector<Tensor> inputs = InputViewsOf(arrays, session.inputs());
  std::vector<double> micros;
  absl::Status status;
  {
    py::gil_scoped_release release;
    for (int r = 0; r < repeats && status.ok(); ++r)
      status = session.RunProfiled(inputs, micros).status();
  }
  ThrowIfError(status);
  py::list out;
  const std::vector<std::string> steps = session.StepDescriptions();
  for (size_t s = 0; s < steps.size(); ++s)
    out.append(py::make_tuple(steps[s], micros[s] / std::max(repeats, 1)));
  return out;
}

}  // namespace

void RegisterEngine(py::module_& m) {
  py::class_<Session, std::shared_ptr<Session>>(m, "Model", "A loaded model; run() is thread-safe")
      .def_property_readonly(
          "inputs", [](const Session& s) { return Specs(s.inputs()); },
          "[(name, dtype, shape)], None marking the batch dimension")
      .def_property_readonly("outputs", [](const Session& s) { return Specs(s.outputs()); })
      .def("step_op_types", &Session::StepOpTypes, "op types of the kernels that run, in order")
      .def("profile", &Profile, py::arg("inputs"), py::arg("repeats") = 10,
           "Mean wall time of each step over `repeats` runs: [(step, microseconds)].")
      .def("run", &Run, py::arg("inputs"),
           "Runs the model on arrays given in input order; returns the outputs in order.");
  m.def("load_model", &Load, py::arg("path"), py::arg("intra_op_threads") = 1,
        py::arg("optimize") = true, "Loads a model.onnx file or a version directory holding one.");
  m.def("load_version", &LoadVersion, py::arg("path"), py::arg("intra_op_threads") = 1,
        "Loads a model version (model.onnx or a TensorFlow SavedModel): [(signature name, "
        "method name, Model)].");
  m.def("load_model_bytes", &LoadBytes, py::arg("data"), py::arg("intra_op_threads") = 1,
        py::arg("optimize") = true, "Loads a serialized ONNX model.");
  m.def("gemm_backend", [] { return std::string(GemmBackendName()); });
}

}  // namespace servekit::bindings
