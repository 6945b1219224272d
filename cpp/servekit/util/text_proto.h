// ParseTextProto: protobuf text format into a message, with every syntax
// error's line and column (1-based) in one InvalidArgument.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "servekit/util/status.h"

namespace google::protobuf {
class Message;
}

namespace servekit {

// `what` names the text in the error ("invalid <what>: line 3, column 5: ...").
Status ParseTextProto(const std::string& text, absl::string_view what,
                      google::protobuf::Message* message);

}  // namespace servekit
