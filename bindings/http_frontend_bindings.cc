// servekit._core.HttpFrontend: servekit's HTTP server on a socket a process
// manager listens on (servekit.gunicorn's worker), in front of a Python web
// app. Requests for TF Serving's REST routes (the paths servekit.flask mounts)
// are answered natively by the RestApi that servekit-server runs, without the
// GIL; every other request goes to a Python callable (servekit.gunicorn's WSGI
// bridge) with the GIL held, on the server's thread that read it.
//
// The callable: fallback(method, target, headers, body, remote_address) ->
// (status, headers, body); strings are WSGI's latin-1 "bytes as str", headers
// a list of (name, value), body bytes. If it raises, the request gets 500.
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "areas.h"
#include "servekit/server/http/http_server.h"
#include "servekit/server/rest/rest_api.h"
#include "servekit/serving/server_core.h"
#include "servekit/util/json_writer.h"
#include "status_exceptions.h"

namespace py = pybind11;

namespace servekit::bindings {
namespace {

// Which requests RestApi answers: GET and POST on `exact` paths or under
// `prefixes`, after the mount prefix (servekit.flask's routes; the lists come
// from there so that the rule is written once).
struct NativeRoutes {
  std::string mount;  // "" or "/api": what precedes the routes, stripped before RestApi
  std::vector<std::string> exact;
  std::vector<std::string> prefixes;
  bool enabled = true;  // false: everything goes to the app (its hooks must see every route)

  // The target RestApi gets (path and query after the mount), or "" when the
  // request is the app's.
  absl::string_view Take(const HttpRequest& request) const {
    if (!enabled || (request.method != "GET" && request.method != "POST")) return {};
    absl::string_view target = request.target;
    if (!absl::ConsumePrefix(&target, mount)) return {};
    const absl::string_view path = target.substr(0, target.find('?'));
    for (const std::string& p : exact)
      if (path == p) return target;
    for (const std::string& p : prefixes)
      if (absl::StartsWith(path, p)) return target;
    return {};
  }
};

py::str Latin1(absl::string_view bytes) {
  PyObject* text =
      PyUnicode_DecodeLatin1(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), nullptr);
  if (text == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(text);
}

std::string FromLatin1(py::handle text) {
  PyObject* bytes = PyUnicode_AsLatin1String(text.ptr());
  if (bytes == nullptr) throw py::error_already_set();
  const py::bytes owned = py::reinterpret_steal<py::bytes>(bytes);
  return std::string(owned);
}

class HttpFrontend {
 public:
  HttpFrontend(ServerCore* core, RestApiOptions rest, NativeRoutes routes, py::object fallback)
      : api_(core, std::move(rest), [this] { return in_flight(); }),
        routes_(std::move(routes)),
        fallback_(std::move(fallback)) {}

  ~HttpFrontend() {
    {
      py::gil_scoped_release release;  // requests for the app need the GIL to finish
      server_.reset();                 // stops at once
    }
  }

  void Start(HttpServerOptions options) {
    StatusOr<std::unique_ptr<HttpServer>> server;
    {
      py::gil_scoped_release release;
      server = HttpServer::Start(std::move(options),
                                 [this](const HttpRequest& request, HttpResponse* response) {
                                   Handle(request, response);
                                 });
    }
    ThrowIfError(server.status());
    server_ = *std::move(server);
  }

  int port() const { return server_->port(); }
  int64_t in_flight() const { return server_ == nullptr ? 0 : server_->requests_in_flight(); }

  // Readiness answers 503 from now on; then no new connection is accepted and
  // requests in flight get up to `drain_seconds`. True if all of them finished.
  bool Stop(double drain_seconds) {
    api_.SetDraining();
    py::gil_scoped_release release;
    return server_->Stop(absl::Seconds(std::max(drain_seconds, 0.0)));
  }

 private:
  void Handle(const HttpRequest& request, HttpResponse* response) {
    const absl::string_view native = routes_.Take(request);
    if (!native.empty()) {
      api_.Handle(HttpRequest{request.method, native, request.body, request.extras}, response);
      return;
    }
    py::gil_scoped_acquire gil;
    // This thread keeps its Python thread state from its first request to its
    // end: the app's thread-local data (a database session) lives across
    // requests, as on any threaded server, and no request pays for a new one.
    thread_local bool kept = false;
    if (!kept) {
      gil.inc_ref();
      kept = true;
    }
    try {
      CallApp(request, response);
    } catch (py::error_already_set& error) {
      // Printed as an unraisable exception (to stderr, gunicorn's error log):
      // PyErr_Print would exit the process from this thread on a SystemExit.
      error.discard_as_unraisable("servekit.gunicorn: the app's WSGI call");
      *response = ErrorResponse(500, "internal error: the Python app raised an exception");
    } catch (const std::exception& error) {
      *response = ErrorResponse(500, absl::StrCat("internal error: ", error.what()));
    }
  }

  void CallApp(const HttpRequest& request, HttpResponse* response) {
    py::list headers;
    if (request.extras != nullptr) {
      request.extras->ForEachHeader([&](absl::string_view name, absl::string_view value) {
        headers.append(py::make_tuple(Latin1(name), Latin1(value)));
      });
    }
    const std::string remote = request.extras != nullptr ? request.extras->RemoteAddress() : "";
    py::object answer =
        fallback_(Latin1(request.method), Latin1(request.target), headers,
                  py::bytes(request.body.data(), request.body.size()), py::str(remote));
    const py::tuple parts = answer.cast<py::tuple>();
    if (parts.size() != 3)
      throw std::runtime_error("the app's answer is not (status, headers, body)");
    response->status = parts[0].cast<int>();
    response->content_type = {};  // the app's own headers carry it
    // Answers without a body: the app's Content-Length (a GET's, for HEAD) goes out as it is.
    response->bodiless = request.method == "HEAD" || response->status < 200 ||
                         response->status == 204 || response->status == 304;
    for (py::handle field : parts[1]) {
      const py::tuple pair = py::reinterpret_borrow<py::object>(field).cast<py::tuple>();
      if (pair.size() != 2) throw std::runtime_error("a response header is not (name, value)");
      response->headers.emplace_back(FromLatin1(pair[0]), FromLatin1(pair[1]));
    }
    response->body = parts[2].cast<std::string>();
  }

  static HttpResponse ErrorResponse(int status, absl::string_view message) {
    HttpResponse response;
    response.status = status;
    JsonWriter(&response.body).BeginObject().Key("error").String(message).EndObject();
    return response;
  }

  RestApi api_;
  const NativeRoutes routes_;
  py::object fallback_;  // used and released with the GIL held
  std::unique_ptr<HttpServer> server_;
};

}  // namespace

void RegisterHttpFrontend(py::module_& m) {
  const RestApiOptions rest_defaults;
  const HttpServerOptions http_defaults;
  py::class_<HttpFrontend>(m, "HttpFrontend",
                           "servekit's HTTP server on a listening socket in front of a Python "
                           "app: TF Serving's REST routes natively, the rest through `fallback`")
      .def(py::init([](ServerCore* core, int listen_fd, py::object fallback,
                       const std::string& mount, std::vector<std::string> exact_paths,
                       std::vector<std::string> path_prefixes, bool native_routes, int num_threads,
                       double timeout_seconds, double idle_timeout_seconds, int max_connections,
                       int64_t max_request_bytes, bool enable_model_management,
                       int64_t max_request_values, int64_t max_response_bytes) {
             RestApiOptions rest;
             rest.enable_model_management = enable_model_management;
             rest.max_request_elements = max_request_values;
             rest.max_response_bytes =
                 static_cast<size_t>(std::max<int64_t>(max_response_bytes, 0));
             rest.prometheus_path = std::string();  // the app's route space: not claimed
             ThrowIfError(ValidateRestApiOptions(rest));
             if (max_request_bytes < 1 || timeout_seconds <= 0 || idle_timeout_seconds <= 0) {
               ThrowIfError(absl::InvalidArgumentError(
                   "max_request_bytes, timeout and idle_timeout must be positive"));
             }
             HttpServerOptions http;
             http.listen_fd = listen_fd;
             http.num_threads = num_threads;
             http.timeout = absl::Seconds(timeout_seconds);
             http.idle_timeout = absl::Seconds(idle_timeout_seconds);
             http.max_connections = max_connections;
             http.max_body_bytes = static_cast<size_t>(max_request_bytes);
             NativeRoutes routes{mount, std::move(exact_paths), std::move(path_prefixes),
                                 native_routes};
             auto frontend = std::make_unique<HttpFrontend>(core, std::move(rest),
                                                            std::move(routes), std::move(fallback));
             frontend->Start(std::move(http));
             return frontend;
           }),
           py::arg("core").none(false), py::arg("listen_fd"), py::arg("fallback"), py::kw_only(),
           py::arg("mount") = std::string(), py::arg("exact_paths"), py::arg("path_prefixes"),
           py::arg("native_routes") = true, py::arg("num_threads") = http_defaults.num_threads,
           py::arg("timeout") = absl::ToDoubleSeconds(http_defaults.timeout),
           py::arg("idle_timeout") = absl::ToDoubleSeconds(http_defaults.idle_timeout),
           py::arg("max_connections") = http_defaults.max_connections,
           py::arg("max_request_bytes") = static_cast<int64_t>(http_defaults.max_body_bytes),
           py::arg("enable_model_management") = rest_defaults.enable_model_management,
           py::arg("max_request_values") = rest_defaults.max_request_elements,
           py::arg("max_response_bytes") = static_cast<int64_t>(rest_defaults.max_response_bytes),
           py::keep_alive<1, 2>())  // the core outlives the frontend
      .def_property_readonly("port", &HttpFrontend::port)
      .def_property_readonly("requests_in_flight", &HttpFrontend::in_flight)
      .def("stop", &HttpFrontend::Stop, py::arg("drain_seconds"),
           "Readiness 503, stop accepting, let requests in flight finish for up to drain_seconds; "
           "True if they all did. Idempotent.");
}

}  // namespace servekit::bindings
