// servekit._core: the native engine. Each area registers itself; the public API
// is the pure-Python servekit package on top.
#include <malloc.h>
#include <pybind11/pybind11.h>

#include <cstdlib>

#include "areas.h"
#include "status_exceptions.h"

namespace {

// Model versions are loaded and unloaded for the life of the process. glibc's
// default *dynamic* mmap threshold rises after the first large free, after which
// multi-megabyte weights come from the load threads' heaps and fragment them:
// RSS then wanders upward across reloads. A fixed threshold keeps every large
// buffer (weights, arenas, file bytes) in its own mapping, returned to the OS
// when the version unloads (bench/serving_bench.py: RSS flat across 1,000
// load/unload cycles of a 10 MB model). A user's MALLOC_MMAP_THRESHOLD_ wins.
void ReturnLargeBuffersToTheSystem() {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return;
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "servekit's native engine (private; use the servekit package)";
  ReturnLargeBuffersToTheSystem();
  servekit::bindings::RegisterExceptions(m);
  servekit::bindings::RegisterEngine(m);
  servekit::bindings::RegisterOnnxWriter(m);
  servekit::bindings::RegisterServing(m);
  servekit::bindings::RegisterModelServer(m);
  servekit::bindings::RegisterRestHandler(m);
  servekit::bindings::RegisterHttpFrontend(m);
}
