// One Register function per binding area (one .cc each).
#pragma once

#include <pybind11/pybind11.h>

namespace servekit::bindings {

void RegisterEngine(pybind11::module_& m);      // engine_bindings.cc: load models, run them
void RegisterOnnxWriter(pybind11::module_& m);  // onnx_writer_bindings.cc: the builder's save
void RegisterServing(pybind11::module_& m);     // serving_bindings.cc: versioned models
void RegisterModelServer(
    pybind11::module_& m);  // model_server_bindings.cc: REST server and lifecycle
void RegisterRestHandler(
    pybind11::module_& m);  // rest_handler_bindings.cc: the REST API as one call (servekit.flask)
void RegisterHttpFrontend(
    pybind11::module_& m);  // http_frontend_bindings.cc: native HTTP in front of a Python app

}  // namespace servekit::bindings
