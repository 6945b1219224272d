// AcceptLoop: the accepting side of one listening port, with the limits a
// port open to a network needs. Both servers (HTTP and gRPC) accept through it.
//
// - At most `max_connections` accepted connections are open at once. At the
//   cap, accepting pauses (new clients wait in the kernel's listen backlog)
//   and `evict_idle` is asked to close the oldest idle connection, so a client
//   with a request gets in while idle connections fill the cap.
// - An accept error (EMFILE or ENFILE when descriptors run out, ENOBUFS,
//   ENOMEM, ...) pauses accepting for a delay that grows from 1 ms to 1 s,
//   instead of retrying at once (a busy loop that starves the server). It
//   evicts nothing: the cap, kept below the open-file limit, is what stops
//   connections from using up the descriptors (see open_file_limit.h).
//
// Accepting runs on a thread of the loop's own, so that no handler holds it
// up: on a server thread, a long request (a slow predict) would delay every
// new connection, and a drain would wait for that request before it could
// stop accepting and close idle connections.
//
// Lifecycle: Listen, then Start; Stop closes the listening socket and joins
// the loop's thread (no accept runs after it). The owner counts its open
// connections (open_connections). Thread-safe: every method may be called
// from any thread; accepting and the hooks run on the loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "servekit/util/status.h"

namespace servekit {

class AcceptLoop {
 public:
  struct Hooks {
    // Takes an accepted socket (on socket_executor) and starts serving it.
    std::function<void(boost::asio::ip::tcp::socket)> on_accept;
    // Closes the connection idle the longest, if there is one (asynchronously).
    std::function<void()> evict_idle;
    // Accepted connections not yet closed.
    std::function<int()> open_connections;
    // Where the next accepted socket runs (its executor), one of the
    // server's threads; unset: the loop's own thread.
    std::function<boost::asio::any_io_executor()> socket_executor;
  };

  AcceptLoop(int max_connections, Hooks hooks);
  ~AcceptLoop();  // Stop()
  AcceptLoop(const AcceptLoop&) = delete;
  AcceptLoop& operator=(const AcceptLoop&) = delete;

  // Binds and listens. InvalidArgument for a bad address or port, Unavailable
  // (naming `what` and the system's reason) when the port cannot be bound.
  Status Listen(const std::string& address, int port, absl::string_view what);
  // Listens on a duplicate of `fd`, a socket something else has bound and
  // made listen (a process manager's); `fd` itself stays open and untouched.
  // InvalidArgument when it is not a listening TCP (IPv4 or IPv6) socket.
  Status Adopt(int fd, absl::string_view what);
  int port() const { return port_; }

  void Start();
  // No accept runs after Stop returns; idempotent.
  void Stop();

 private:
  void Accept();
  void PauseThenAccept(std::chrono::milliseconds delay);

  boost::asio::io_context io_{1};  // run by thread_ alone
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running_{
      io_.get_executor()};
  boost::asio::strand<boost::asio::io_context::executor_type> strand_{io_.get_executor()};
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_timer_;
  const int max_connections_;
  const Hooks hooks_;
  int port_ = 0;
  std::chrono::milliseconds error_backoff_{0};  // on the strand
  bool stopped_ = false;                        // on the strand
  std::thread thread_;                          // runs io_ from Start to Stop
  std::mutex lifecycle_mu_;                     // Start and Stop
};

}  // namespace servekit
