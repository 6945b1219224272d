// HttpServer: an HTTP/1.1 server (Boost.Beast over Asio) that hands each
// complete request to a handler on one of its worker threads.
//
// - Keep-alive connections; each connection's requests are answered in order.
// - `timeout` bounds reading a request (from its first byte) and writing its
//   response: a client that sends half a request and stalls gets 408 and is
//   disconnected. A connection with no request under way (idle keep-alive, or
//   newly opened and silent) is closed after `idle_timeout`. Deadlines are
//   checked every quarter of the shorter timeout (10 ms to 1 s), so each
//   fires up to that much late.
// - At most `max_connections` are open at once; at the cap the connection
//   idle the longest is closed to let a new one in (see AcceptLoop), and
//   accept errors (out of descriptors) back off.
// - A body over `max_body_bytes` is answered 413 without being read; a request
//   Beast cannot parse is answered 400; the connection is closed after both.
// - Stop drains: it stops accepting, closes idle connections, lets requests in
//   flight (and ones already arriving) finish for up to `drain_timeout`, then
//   closes everything and joins the threads.
//
// - `listen_fd` serves on a socket that is already listening (a process
//   manager's, such as gunicorn's) instead of binding address:port; the
//   server listens on its own duplicate and leaves the original open.
//
// The handler runs on a worker thread, concurrently with other requests, and
// must be thread-safe. Beast stays inside http_server.cc.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "servekit/util/status.h"

namespace servekit {

// What few handlers need (one that passes requests on to another framework),
// read on demand so that the others pay nothing for it. Valid during the
// handler's call only.
class HttpRequestExtras {
 public:
  // Every header field in the order received, names as sent.
  virtual void ForEachHeader(
      absl::FunctionRef<void(absl::string_view name, absl::string_view value)> visit) const = 0;
  // The client's IP address, or "" when the connection has none any more.
  virtual std::string RemoteAddress() const = 0;

 protected:
  ~HttpRequestExtras() = default;
};

struct HttpRequest {
  absl::string_view method;  // "GET", "POST", ...
  absl::string_view target;  // path and query, as sent
  absl::string_view body;
  const HttpRequestExtras* extras = nullptr;  // set by HttpServer
};

struct HttpResponse {
  int status = 200;
  // "": no Content-Type field. A view of storage that outlives the answer (a
  // literal): "application/json" is one byte past std::string's inline
  // buffer, and as a string it cost every answer a malloc.
  absl::string_view content_type = "application/json";
  std::string body;
  // More header fields (Location, Set-Cookie, ...); Content-Length, and
  // Connection and Transfer-Encoding, are the server's to write and are
  // skipped here.
  std::vector<std::pair<std::string, std::string>> headers;
  // An answer that has no body by its nature (to HEAD, 204, 304): nothing is
  // sent after the header, and Content-Length is the one in `headers` (the
  // length a GET would have had) instead of the body's; none for 1xx and 204.
  bool bodiless = false;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse*)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;        // 0 picks a free port
  int listen_fd = -1;  // >= 0: serve on this listening TCP socket instead (see above)
  int num_threads = 2;
  absl::Duration timeout = absl::Seconds(30);
  absl::Duration idle_timeout = absl::Seconds(120);
  int max_connections = 4096;
  size_t max_body_bytes = 64 << 20;
};

class HttpServer {
 public:
  // Binds and starts serving; InvalidArgument for a bad address or a
  // listen_fd that is not a listening TCP socket, Unavailable if the port
  // cannot be bound (with the system's reason).
  static StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                     HttpHandler handler);
  ~HttpServer();  // Stop(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // Requests received and not yet answered.
  int64_t requests_in_flight() const;
  int open_connections() const;
  // Drains (see above) and stops; idempotent. Returns true if every request in
  // flight was answered before the deadline.
  bool Stop(absl::Duration drain_timeout);

 private:
  friend class HttpSession;  // one connection, in http_server.cc
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace servekit
