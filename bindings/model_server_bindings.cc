// The whole server: servekit._core.ModelServer (REST and gRPC on native threads).
#include <pybind11/stl.h>

#include "areas.h"
#include "core_options.h"
#include "servekit/server/model_server.h"
#include "servekit/server/monitoring_config.h"
#include "status_exceptions.h"

namespace py = pybind11;

namespace servekit::bindings {

void RegisterModelServer(py::module_& m) {
  m.def("parse_monitoring_config", [](const std::string& text) {
        MonitoringSettings settings = ValueOrThrow(ParseMonitoringConfig(text));
        return py::make_tuple(settings.prometheus_enabled, settings.prometheus_path);
      },
      py::arg("text"), "TF Serving's MonitoringConfig text: (prometheus enabled, path).");

  py::class_<ModelServer>(m, "ModelServer", "ServerCore + REST API; Stop drains")
      .def(py::init([](std::vector<ModelConfig> models, const std::string& model_config_file,
                       double model_config_file_poll_wait_seconds, const py::dict& core, bool enable_rest,
                       const std::string& rest_api_address, int64_t rest_api_port, int64_t rest_api_num_threads,
                       double rest_api_timeout_seconds, int64_t max_request_bytes, bool enable_model_management,
                       const std::string& prometheus_path, double drain_timeout_seconds, bool enable_grpc,
                       int64_t grpc_port, int64_t grpc_max_message_bytes, int64_t grpc_num_threads,
                       int64_t max_connections, double idle_timeout_seconds, int64_t max_request_values,
                       int64_t max_response_bytes) {
             ModelServerOptions o;
             o.core = MakeServerCoreOptions(
                 core["num_load_threads"].cast<int64_t>(), core["max_num_load_retries"].cast<int64_t>(),
                 core["load_retry_interval_seconds"].cast<double>(),
                 core["file_system_poll_wait_seconds"].cast<double>(), core["resource_preserving"].cast<bool>(),
                 core["allow_labels_for_unavailable_versions"].cast<bool>(), core["intra_op_threads"].cast<int64_t>(),
                 core["load_wait_seconds"].cast<double>());
             o.models = std::move(models);
             o.model_config_file = model_config_file;
             o.model_config_file_poll_wait =
                 Seconds("model_config_file_poll_wait_seconds", model_config_file_poll_wait_seconds);
             o.enable_rest = enable_rest;
             o.http.address = rest_api_address;
             o.http.port = IntOption("rest_api_port", rest_api_port, 0);
             o.http.num_threads = IntOption("rest_api_num_threads", rest_api_num_threads, 1);
             o.http.timeout = Seconds("rest_api_timeout", rest_api_timeout_seconds);
             if (o.http.timeout <= absl::ZeroDuration()) throw py::value_error("rest_api_timeout must be positive");
             o.http.max_body_bytes = IntOption("max_request_bytes", max_request_bytes, 1);
             o.enable_model_management = enable_model_management;
             o.rest.prometheus_path = prometheus_path;
             o.drain_timeout = Seconds("drain_timeout_seconds", drain_timeout_seconds);
             o.enable_grpc = enable_grpc;
             o.grpc.address = rest_api_address;
             o.grpc.port = IntOption("grpc_port", grpc_port, 0);
             o.grpc.max_message_bytes = IntOption("grpc_max_message_bytes", grpc_max_message_bytes, 1);
             o.grpc.num_threads = IntOption("grpc_num_threads", grpc_num_threads, 1);
             o.max_connections = IntOption("max_connections", max_connections, 0);
             o.idle_timeout = Seconds("idle_timeout_seconds", idle_timeout_seconds);
             if (max_request_values < 1) throw py::value_error("max_request_values must be positive");
             o.max_request_values = max_request_values;
             o.max_response_bytes = static_cast<size_t>(IntOption("max_response_bytes", max_response_bytes, 1));
             absl::StatusOr<std::unique_ptr<ModelServer>> server = absl::UnknownError("");
             {
               py::gil_scoped_release release;
               server = ModelServer::Start(std::move(o));
             }
             return ValueOrThrow(std::move(server));
           }),
           py::arg("models"), py::arg("model_config_file"), py::arg("model_config_file_poll_wait_seconds"),
           py::arg("core"), py::arg("enable_rest"), py::arg("rest_api_address"), py::arg("rest_api_port"),
           py::arg("rest_api_num_threads"), py::arg("rest_api_timeout_seconds"), py::arg("max_request_bytes"),
           py::arg("enable_model_management"), py::arg("prometheus_path"), py::arg("drain_timeout_seconds"),
           py::arg("enable_grpc"), py::arg("grpc_port"), py::arg("grpc_max_message_bytes"),
           py::arg("grpc_num_threads"), py::arg("max_connections"), py::arg("idle_timeout_seconds"),
           py::arg("max_request_values"), py::arg("max_response_bytes"))
      .def_property_readonly("rest_port", &ModelServer::rest_port)
      .def_property_readonly("grpc_port", &ModelServer::grpc_port)
      .def("core", &ModelServer::core, py::return_value_policy::reference_internal)
      .def("config_file_status", [](const ModelServer& s) {
        absl::Status status = s.ConfigFileStatus();
        return py::make_tuple(std::string(absl::StatusCodeToString(status.code())), std::string(status.message()));
      })
      .def("stop", [](ModelServer& s) {
        py::gil_scoped_release release;
        return s.Stop();
      });
}

}  // namespace servekit::bindings
