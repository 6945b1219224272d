#include "core_options.h"

#include <pybind11/pybind11.h>

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace py = pybind11;

namespace servekit::bindings {

absl::Duration Seconds(const char* name, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    throw py::value_error(absl::StrCat(name, " must be a finite number of seconds >= 0; got ", seconds));
  }
  if (seconds > 1e9) throw py::value_error(absl::StrCat(name, " must be at most 1e9 seconds; got ", seconds));
  return absl::Microseconds(static_cast<int64_t>(seconds * 1e6));
}

int IntOption(const char* name, int64_t value, int64_t min) {
  if (value < min || value > std::numeric_limits<int>::max()) {
    throw py::value_error(
        absl::StrCat(name, " must be in [", min, ", ", std::numeric_limits<int>::max(), "]; got ", value));
  }
  return static_cast<int>(value);
}

ServerCoreOptions MakeServerCoreOptions(int64_t num_load_threads, int64_t max_num_load_retries,
                                        double load_retry_interval_seconds, double file_system_poll_wait_seconds,
                                        bool resource_preserving, bool allow_labels_for_unavailable_versions,
                                        int64_t intra_op_threads, double load_wait_seconds) {
  ServerCoreOptions o;
  o.num_load_threads = IntOption("num_load_threads", num_load_threads, 1);
  o.max_num_load_retries = IntOption("max_num_load_retries", max_num_load_retries, 0);
  o.load_retry_interval = Seconds("load_retry_interval", load_retry_interval_seconds);
  o.file_system_poll_wait = Seconds("file_system_poll_wait_seconds", file_system_poll_wait_seconds);
  o.resource_preserving = resource_preserving;
  o.allow_labels_for_unavailable_versions = allow_labels_for_unavailable_versions;
  o.session.intra_op_threads = IntOption("intra_op_threads", intra_op_threads, 1);
  o.load_wait = Seconds("load_wait_seconds", load_wait_seconds);
  return o;
}

}  // namespace servekit::bindings
