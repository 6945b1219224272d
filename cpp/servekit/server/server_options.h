// The model server's options as users set them, defined once.
//
// Every option a user can give servekit-server (a flag) or servekit's Python
// API (a keyword argument of ModelServer, or of ServingCore for the core's
// options) is one entry of ServerOptionTable(): its name (TF Serving's flag
// name where TF Serving has the option, with its unit), the CLI flag when TF
// Serving spells it differently, help text, kind and bounds. Its default is
// the default of the ModelServerOptions field it sets. The CLI and Python pass
// the user's values through by name; SetServerOption checks each and stores it.
//
// Stateless; the table is built once and immutable.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/server/model_server.h"

namespace servekit {

// A value as the user gave it: none (an optional option left to its default,
// or "off" for a port), a bool, an integer, a number, or text.
using OptionValue = std::variant<std::monostate, bool, int64_t, double, std::string>;

enum class OptionKind {
  kBool,
  kInt,      // integer in [min, max]
  kSeconds,  // finite number >= 0 of seconds (or, by the option's unit, ms / us)
  kText,
  kPort,     // integer in [0, 65535]; 0 picks a free port; none turns the API off
  kThreads,  // integer >= 1; none: one per core, at least 2
};

// Which object takes the option: the serving core (ServingCore and
// ModelServer) or only the whole server (ModelServer, servekit-server).
enum class OptionScope { kCore, kServer };

struct ServerOption {
  std::string name;  // the Python keyword, and the flag unless `flag` is set
  std::string flag;  // servekit-server's flag (TF Serving's name) when it differs; "-" for none
  OptionKind kind;
  OptionScope scope;
  std::string help;
  int64_t min = 0, max = 0;   // kInt bounds
  double unit_seconds = 1.0;  // kSeconds given in ms (1e-3) or us (1e-6)
  // The CLI's default where it differs from the Python API's (TF Serving's
  // flags serve gRPC on 8500 and bind every address); none otherwise.
  OptionValue flag_default;
  std::function<void(ModelServerOptions&, const OptionValue&)>
      set;  // `value` checked and converted
  std::function<OptionValue(const ModelServerOptions&)> get;
};

const std::vector<ServerOption>& ServerOptionTable();

// Checks `value` for the option called `name` and stores it. InvalidArgument
// naming the option (as `display_name`, e.g. "--port" for the CLI) for an
// unknown name, a value of the wrong type or out of range.
Status SetServerOption(ModelServerOptions& options, absl::string_view name,
                       const OptionValue& value, absl::string_view display_name);

}  // namespace servekit
