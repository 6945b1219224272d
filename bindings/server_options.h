// Python's side of server_options.h: keyword arguments in, ModelServerOptions
// out (checked natively, ValueError naming the option), and the option table
// for the CLI and the docs. Plus Seconds, for the few method arguments that
// are durations.
#pragma once

#include <pybind11/pybind11.h>

#include "servekit/server/server_options.h"

namespace servekit::bindings {

// The options named in `options` (every other keeps its default). Only
// core-scope options when `scope` is kCore. ValueError (TypeError for an
// unknown name) naming the option as its CLI flag ("--port") when
// `flag_names`, else as its keyword.
ModelServerOptions ModelServerOptionsFrom(const pybind11::dict& options, OptionScope scope,
                                          bool flag_names);

// [{name, flag, kind, scope, help, default, flag_default}], in the table's order.
pybind11::list ServerOptionsForPython();

// A duration argument: ValueError naming it unless `seconds` is finite and >= 0.
absl::Duration Seconds(const char* name, double seconds);

}  // namespace servekit::bindings
