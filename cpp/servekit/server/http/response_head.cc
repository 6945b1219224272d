#include "servekit/server/http/response_head.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace servekit {

void AppendResponseHead(const HttpResponse& response, absl::string_view reason, bool keep_alive,
                        std::string* out) {
  absl::string_view content_type = response.content_type;
  std::optional<absl::string_view> given_length;
  for (const auto& [name, value] : response.headers) {
    if (absl::EqualsIgnoreCase(name, "Content-Type")) content_type = value;
    if (absl::EqualsIgnoreCase(name, "Content-Length")) given_length = value;
  }
  absl::StrAppend(out, "HTTP/1.1 ", response.status, " ", reason, "\r\nServer: servekit\r\n");
  if (!content_type.empty()) absl::StrAppend(out, "Content-Type: ", content_type, "\r\n");
  for (const auto& [name, value] : response.headers) {
    if (absl::EqualsIgnoreCase(name, "Content-Type") ||
        absl::EqualsIgnoreCase(name, "Content-Length") ||
        absl::EqualsIgnoreCase(name, "Connection") ||
        absl::EqualsIgnoreCase(name, "Transfer-Encoding") ||
        absl::EqualsIgnoreCase(name, "Server")) {
      continue;
    }
    absl::StrAppend(out, name, ": ", value, "\r\n");
  }
  if (!keep_alive) out->append("Connection: close\r\n");
  // RFC 9110 8.6: never on 1xx or 204. A 304's length is that of the answer
  // it stands for, which only a bodiless answer's own header can say.
  const int status = response.status;
  if (status >= 200 && status != 204) {
    if (!response.bodiless && status != 304) {
      absl::StrAppend(out, "Content-Length: ", response.body.size(), "\r\n");
    } else if (given_length) {
      absl::StrAppend(out, "Content-Length: ", *given_length, "\r\n");
    }
  }
  out->append("\r\n");
}

}  // namespace servekit
