// The whole server: servekit._core.ModelServer (REST and gRPC on native threads).
#include <pybind11/stl.h>

#include "areas.h"
#include "servekit/server/model_server.h"
#include "servekit/server/monitoring_config.h"
#include "server_options.h"
#include "status_exceptions.h"

namespace py = pybind11;

namespace servekit::bindings {

void RegisterModelServer(py::module_& m) {
  m.def(
      "parse_monitoring_config",
      [](const std::string& text) {
        MonitoringSettings settings = ValueOrThrow(ParseMonitoringConfig(text));
        return py::make_tuple(settings.prometheus_enabled, settings.prometheus_path);
      },
      py::arg("text"), "TF Serving's MonitoringConfig text: (prometheus enabled, path).");

  m.def("server_options", &ServerOptionsForPython,
        "Every option of ModelServer and servekit-server: [{name, flag, kind, scope, help, "
        "default, flag_default}].");

  py::class_<ModelServer>(m, "ModelServer", "ServerCore + REST API; Stop drains")
      .def(py::init([](std::vector<ModelConfig> models, const std::string& model_config_file,
                       const py::dict& options, bool flag_names) {
             ModelServerOptions o =
                 ModelServerOptionsFrom(options, OptionScope::kServer, flag_names);
             o.models = std::move(models);
             o.model_config_file = model_config_file;
             absl::StatusOr<std::unique_ptr<ModelServer>> server = absl::UnknownError("");
             {
               py::gil_scoped_release release;
               server = ModelServer::Start(std::move(o));
             }
             return ValueOrThrow(std::move(server));
           }),
           py::arg("models"), py::arg("model_config_file"), py::arg("options"),
           py::arg("flag_names") = false)
      .def_property_readonly("rest_port", &ModelServer::rest_port)
      .def_property_readonly("grpc_port", &ModelServer::grpc_port)
      .def("core", &ModelServer::core, py::return_value_policy::reference_internal)
      .def("config_file_status",
           [](const ModelServer& s) {
             absl::Status status = s.ConfigFileStatus();
             return py::make_tuple(std::string(absl::StatusCodeToString(status.code())),
                                   std::string(status.message()));
           })
      .def("stop", [](ModelServer& s) {
        py::gil_scoped_release release;
        return s.Stop();
      });
}

}  // namespace servekit::bindings
