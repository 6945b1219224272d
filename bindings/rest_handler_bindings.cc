// servekit._core.RestHandler: the model server's REST API as one call, for web
// frameworks that route requests themselves (servekit.flask). The framework
// hands over method, path and body; JSON parsing, the model run and the JSON
// answer happen here with the GIL released, exactly as in servekit-server.
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "areas.h"
#include "servekit/server/rest/rest_api.h"
#include "servekit/serving/server_core.h"
#include "status_exceptions.h"

namespace py = pybind11;

namespace servekit::bindings {
namespace {

class RestHandler {
 public:
  RestHandler(ServerCore* core, RestApiOptions options)
      : api_(core, std::move(options), [this] { return in_flight_.load(); }) {}

  // (status, content type, body) for one request; `target` is the path and
  // query as the client sent them, without any mount prefix.
  py::tuple Handle(const std::string& method, const std::string& target, const py::bytes& body) {
    char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyBytes_AsStringAndSize(body.ptr(), &data, &size) != 0) throw py::error_already_set();
    HttpResponse response;
    {
      py::gil_scoped_release release;  // `body` stays referenced by the caller's frame
      InFlight counted(in_flight_);
      api_.Handle(HttpRequest{method, target, absl::string_view(data, size)}, &response);
    }
    return py::make_tuple(response.status,
                          py::str(response.content_type.data(), response.content_type.size()),
                          py::bytes(response.body.data(), response.body.size()));
  }

  void SetDraining() { api_.SetDraining(); }

 private:
  // Counts one request for the metrics for as long as it runs, however it ends.
  class InFlight {
   public:
    explicit InFlight(std::atomic<int64_t>& count) : count_(count) { count_.fetch_add(1); }
    ~InFlight() { count_.fetch_sub(1); }

   private:
    std::atomic<int64_t>& count_;
  };

  std::atomic<int64_t> in_flight_{0};
  RestApi api_;
};

}  // namespace

void RegisterRestHandler(py::module_& m) {
  const RestApiOptions defaults;
  py::class_<RestHandler>(m, "RestHandler",
                          "TF Serving's REST API over a ServerCore, one request per call")
      .def(py::init([](ServerCore* core, bool enable_model_management, int64_t max_request_values,
                       int64_t max_response_bytes, const std::string& prometheus_path) {
             RestApiOptions options;
             options.enable_model_management = enable_model_management;
             options.max_request_elements = max_request_values;
             options.max_response_bytes =
                 static_cast<size_t>(std::max<int64_t>(max_response_bytes, 0));
             options.prometheus_path = prometheus_path;
             ThrowIfError(ValidateRestApiOptions(options));
             return std::make_unique<RestHandler>(core, std::move(options));
           }),
           py::arg("core").none(false), py::kw_only(),
           py::arg("enable_model_management") = defaults.enable_model_management,
           py::arg("max_request_values") = defaults.max_request_elements,
           py::arg("max_response_bytes") = static_cast<int64_t>(defaults.max_response_bytes),
           py::arg("prometheus_path") = std::string(),
           py::keep_alive<1, 2>())  // the core outlives the handler
      .def("handle", &RestHandler::Handle, py::arg("method"), py::arg("target"), py::arg("body"),
           "(status, content_type, body) for one request")
      .def("set_draining", &RestHandler::SetDraining, "From now on /v2/health/ready answers 503");
}

}  // namespace servekit::bindings
