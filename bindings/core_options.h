// ServerCoreOptions from the keyword arguments ServingCore and ModelServer share.
#pragma once

#include "servekit/serving/server_core.h"

namespace servekit::bindings {

// Raises ValueError for out-of-range values.
ServerCoreOptions MakeServerCoreOptions(int64_t num_load_threads, int64_t max_num_load_retries,
                                        double load_retry_interval_seconds, double file_system_poll_wait_seconds,
                                        bool resource_preserving, bool allow_labels_for_unavailable_versions,
                                        int64_t intra_op_threads, double load_wait_seconds);

// A duration option: ValueError naming it unless `seconds` is finite and >= 0.
absl::Duration Seconds(const char* name, double seconds);
// An int option: ValueError naming it unless `value` is in [min, INT_MAX].
int IntOption(const char* name, int64_t value, int64_t min);

}  // namespace servekit::bindings
