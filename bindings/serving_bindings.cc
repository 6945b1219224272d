// The serving core: servekit._core.ServerCore and ModelConfig.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "areas.h"
#include "numpy_tensor.h"
#include "servekit/serving/config_file_watcher.h"
#include "servekit/serving/request_path.h"
#include "servekit/serving/server_core.h"
#include "server_options.h"
#include "status_exceptions.h"

namespace py = pybind11;

namespace servekit::bindings {
namespace {

ModelSpec Spec(const std::string& name, std::optional<int64_t> version,
               std::optional<std::string> label) {
  return ModelSpec{name, version, std::move(label)};
}

// The Python codec of the request path: named numpy arrays (converted to the
// signature's dtypes by the caller) viewed as tensors, outputs handed back.
class NumpyCodec : public InferenceCodec {
 public:
  explicit NumpyCodec(NamedTensors inputs) : inputs_(std::move(inputs)) {}

  absl::Status DecodeInputs(const ModelSignature&, InferenceInputs* inputs) override {
    inputs->tensors = std::move(inputs_);
    return absl::OkStatus();
  }
  absl::Status EncodeOutputs(const ModelSignature&, int64_t version,
                             NamedTensors outputs) override {
    version_ = version;
    outputs_ = std::move(outputs);
    return absl::OkStatus();
  }

  int64_t version() const { return version_; }
  NamedTensors& outputs() { return outputs_; }

 private:
  NamedTensors inputs_;
  NamedTensors outputs_;
  int64_t version_ = 0;
};

// Runs the model version the spec selects on named inputs; returns
// (version, [(output name, array)]) in signature order.
py::tuple Predict(const ServerCore& core, const std::string& name, std::optional<int64_t> version,
                  std::optional<std::string> label, const std::string& signature_name,
                  const std::map<std::string, py::array>& arrays) {
  NamedTensors inputs;
  inputs.reserve(arrays.size());
  for (const auto& [input, array] : arrays)
    inputs.push_back(NamedTensor{input, TensorViewOf(array, "input '" + input + "'")});
  NumpyCodec codec(std::move(inputs));
  absl::Status status;
  {
    py::gil_scoped_release release;
    status = RunInference(
        core,
        InferenceSpec{Spec(name, version, label), signature_name, RequestKind::kPredict, "python"},
        codec);
  }
  ThrowIfError(status);
  py::list out;
  for (NamedTensor& t : codec.outputs())
    out.append(py::make_tuple(t.name, ArrayOf(std::move(t.tensor))));
  return py::make_tuple(codec.version(), out);
}

// The signature of the version a request would reach. Python's predict looks it
// up first, so a refusal here (unknown model, version or label) is that
// request's outcome and is counted like one.
py::tuple Signature(const ServerCore& core, const std::string& name, std::optional<int64_t> version,
                    std::optional<std::string> label, const std::string& signature_name) {
  absl::StatusOr<ModelMetadata> found =
      GetModelMetadata(core, Spec(name, version, label), /*api=*/"");
  absl::StatusOr<ModelSignature> chosen =
      found.ok() ? FindSignature(found->handle.model(), signature_name) : found.status();
  if (!chosen.ok())
    core.RecordRequest(name, 0, "python", chosen.status().code(), absl::ZeroDuration());
  const ModelSignature signature = ValueOrThrow(std::move(chosen));
  auto specs = [](absl::Span<const TensorSpec> list) {
    py::list out;
    for (const TensorSpec& s : list)
      out.append(py::make_tuple(s.name, std::string(DTypeName(s.dtype)), ShapeToPython(s.shape)));
    return out;
  };
  return py::make_tuple(found->handle.version(), specs(signature.inputs), specs(signature.outputs));
}

py::list Status(const ServerCore& core, const std::string& name) {
  std::vector<VersionStatus> versions = ValueOrThrow(core.manager().GetStatus(name));
  py::list out;
  for (const VersionStatus& v : versions) {
    out.append(py::make_tuple(v.version, std::string(VersionStateName(v.state)),
                              std::string(absl::StatusCodeToString(v.status.code())),
                              std::string(v.status.message())));
  }
  return out;
}

// {"counters": [(name, labels, value)], "histograms": [(name, labels, [(le, cumulative)], count,
// sum)]}
py::dict MetricsDict(const ServerCore& core) {
  py::list counters, histograms;
  for (const Metrics::CounterSample& c : core.metrics().Counters())
    counters.append(py::make_tuple(c.name, c.labels, c.value));
  for (const Metrics::HistogramSample& h : core.metrics().Histograms()) {
    py::list buckets;
    for (int b = 0; b < LatencyHistogram::kBuckets; ++b) {
      buckets.append(
          py::make_tuple(LatencyHistogram::UpperBoundSeconds(b), h.snapshot.cumulative[b]));
    }
    histograms.append(
        py::make_tuple(h.name, h.labels, buckets, h.snapshot.count, h.snapshot.sum_seconds));
  }
  py::dict out;
  out["counters"] = counters;
  out["histograms"] = histograms;
  return out;
}

py::list Events(const ServerCore& core) {
  py::list out;
  for (const VersionEvent& e : core.manager().RecentEvents()) {
    out.append(py::make_tuple(e.model, e.version, std::string(VersionStateName(e.state)),
                              std::string(absl::StatusCodeToString(e.status.code())),
                              std::string(e.status.message()),
                              absl::ToDoubleSeconds(e.time - absl::UnixEpoch())));
  }
  return out;
}

}  // namespace

void RegisterServing(py::module_& m) {
  py::class_<ModelConfig>(m, "ModelConfig", "One model to serve (validated)")
      .def_static(
          "from_json",
          [](const std::string& json) { return ValueOrThrow(ModelConfigFromJson(json, "")); },
          py::arg("json"),
          "TF Serving's ModelConfig as JSON (the keys of its text format), validated.")
      .def_readonly("name", &ModelConfig::name)
      .def_readonly("base_path", &ModelConfig::base_path)
      .def_readonly("platform", &ModelConfig::platform)
      .def_readonly("version_labels", &ModelConfig::version_labels)
      .def_property_readonly("version_policy",
                             [](const ModelConfig& c) { return c.version_policy.ToString(); });

  m.def(
      "parse_model_server_config",
      [](const std::string& text) { return ValueOrThrow(ParseModelServerConfig(text)); },
      py::arg("text"), "Parses TF Serving's text-format ModelServerConfig into ModelConfigs.");

  py::class_<ServerCore>(m, "ServerCore", "Versioned models: manager, file-system source, labels")
      .def(py::init([](const py::dict& options) {
             return std::make_unique<ServerCore>(
                 ModelServerOptionsFrom(options, OptionScope::kCore, false).core);
           }),
           py::arg("options"))
      .def("reload_config",
           [](ServerCore& core, std::vector<ModelConfig> models) {
             absl::Status s;
             {
               py::gil_scoped_release release;
               s = core.ReloadConfig(std::move(models));
             }
             ThrowIfError(s);
           })
      .def("add_model",
           [](ServerCore& core, ModelConfig model) {
             absl::Status s;
             {
               py::gil_scoped_release release;
               s = core.AddModel(std::move(model));
             }
             ThrowIfError(s);
           })
      .def("remove_model",
           [](ServerCore& core, const std::string& name) {
             absl::Status s;
             {
               py::gil_scoped_release release;
               s = core.RemoveModel(name);
             }
             ThrowIfError(s);
           })
      .def("load_version",
           [](ServerCore& core, const std::string& name, int64_t version) {
             absl::Status s;
             {
               py::gil_scoped_release release;
               s = core.LoadVersion(name, version);
             }
             ThrowIfError(s);
           })
      .def("unload_version",
           [](ServerCore& core, const std::string& name, int64_t version) {
             absl::Status s;
             {
               py::gil_scoped_release release;  // it waits for the unload to start
               s = core.UnloadVersion(name, version);
             }
             ThrowIfError(s);
           })
      .def("set_label", [](ServerCore& core, const std::string& model, const std::string& label,
                           int64_t version) { ThrowIfError(core.SetLabel(model, label, version)); })
      .def("predict", &Predict, py::arg("name"), py::arg("version"), py::arg("label"),
           py::arg("signature_name"), py::arg("inputs"))
      .def("signature", &Signature, py::arg("name"), py::arg("version"), py::arg("label"),
           py::arg("signature_name") = "")
      .def("status", &Status, py::arg("name"))
      .def("base_path_status",
           [](const ServerCore& core, const std::string& name) {
             absl::Status s = core.BasePathStatus(name);
             return py::make_tuple(std::string(absl::StatusCodeToString(s.code())),
                                   std::string(s.message()));
           })
      .def("models", &ServerCore::Models)
      .def("events", &Events)
      .def("metrics", &MetricsDict)
      .def("wait_until_available", [](const ServerCore& core, const std::string& name,
                                      std::optional<int64_t> version, double timeout_seconds) {
        absl::Status s;
        {
          py::gil_scoped_release release;
          s = core.manager().WaitUntilAvailable(name, version,
                                                Seconds("timeout_seconds", timeout_seconds));
        }
        ThrowIfError(s);
      });

  py::class_<ConfigFileWatcher>(m, "ConfigFileWatcher",
                                "Applies a ModelServerConfig file to a ServerCore, re-reading it")
      .def(py::init([](ServerCore* core, const std::string& path, double poll_wait_seconds) {
             absl::StatusOr<std::unique_ptr<ConfigFileWatcher>> watcher = absl::UnknownError("");
             {
               py::gil_scoped_release release;
               watcher = ConfigFileWatcher::Start(core, path,
                                                  Seconds("poll_wait_seconds", poll_wait_seconds));
             }
             return ValueOrThrow(std::move(watcher));
           }),
           py::arg("core"), py::arg("path"), py::arg("poll_wait_seconds"), py::keep_alive<1, 2>())
      .def("check_now",
           [](ConfigFileWatcher& w) {
             absl::Status s;
             {
               py::gil_scoped_release release;
               s = w.CheckNow();
             }
             ThrowIfError(s);
           })
      .def("last_status", [](const ConfigFileWatcher& w) {
        absl::Status s = w.LastStatus();
        return py::make_tuple(std::string(absl::StatusCodeToString(s.code())),
                              std::string(s.message()));
      });
}

}  // namespace servekit::bindings
