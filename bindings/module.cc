// servekit._core: the native engine. Each area registers itself; the public API
// is the pure-Python servekit package on top.
#include <pybind11/pybind11.h>

#include "areas.h"
#include "status_exceptions.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "servekit's native engine (private; use the servekit package)";
  servekit::bindings::RegisterExceptions(m);
  servekit::bindings::RegisterEngine(m);
  servekit::bindings::RegisterOnnxWriter(m);
  servekit::bindings::RegisterServing(m);
}
