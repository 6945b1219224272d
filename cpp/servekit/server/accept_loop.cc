#include "servekit/server/accept_loop.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <future>

#include "absl/strings/str_cat.h"

namespace servekit {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// How long a loop at the connection cap waits for an evicted connection to
// close before it looks again.
constexpr std::chrono::milliseconds kCapRecheck{10};
constexpr std::chrono::milliseconds kMaxErrorBackoff{1000};

}  // namespace

AcceptLoop::AcceptLoop(int max_connections, Hooks hooks)
    : acceptor_(strand_),
      pause_timer_(strand_),
      max_connections_(std::max(1, max_connections)),
      hooks_(std::move(hooks)) {}

Status AcceptLoop::Listen(const std::string& address, int port, absl::string_view what) {
  if (port < 0 || port > 65535)
    return absl::InvalidArgumentError(absl::StrCat(what, " port ", port, " is out of range"));
  boost::system::error_code error;
  const asio::ip::address ip = asio::ip::make_address(address, error);
  if (error)
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not an IP address"));
  const tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  acceptor_.open(endpoint.protocol(), error);
  // SO_REUSEADDR lets a restarted server bind while old connections sit in
  // TIME_WAIT; unlike SO_REUSEPORT it does not let two servers share the port.
  if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot bind the ", what, " port ", address, ":",
                                               port, ": ", error.message()));
  }
  port_ = acceptor_.local_endpoint().port();
  return absl::OkStatus();
}

Status AcceptLoop::Adopt(int fd, absl::string_view what) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot serve ", what, " on file descriptor ", fd, ": ", why));
  };
  if (fd < 0) return invalid("not a file descriptor");
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    return invalid(absl::StrCat("not a socket (", std::strerror(errno), ")"));
  int type = 0, listening = 0;
  socklen_t size = sizeof(int);
  ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size);
  size = sizeof(int);
  ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size);
  if ((address.ss_family != AF_INET && address.ss_family != AF_INET6) || type != SOCK_STREAM)
    return invalid("not a TCP socket (a Unix socket, for one, is not served)");
  if (!listening) return invalid("the socket is not listening");
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return invalid(std::strerror(errno));
  boost::system::error_code error;
  acceptor_.assign(address.ss_family == AF_INET ? tcp::v4() : tcp::v6(), own, error);
  if (error) {
    ::close(own);
    return invalid(error.message());
  }
  // Asio waits for readiness itself; the process manager may have left the
  // socket blocking.
  acceptor_.non_blocking(true, error);
  port_ = acceptor_.local_endpoint(error).port();
  return absl::OkStatus();
}

AcceptLoop::~AcceptLoop() { Stop(); }

void AcceptLoop::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (thread_.joinable() || stopped_) return;
  asio::post(strand_, [this] { Accept(); });
  thread_ = std::thread([this] { io_.run(); });
}

void AcceptLoop::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (thread_.joinable()) {
    std::promise<void> closed;
    asio::post(strand_, [this, &closed] {
      stopped_ = true;
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      pause_timer_.cancel();
      closed.set_value();
    });
    closed.get_future().wait();
    keep_running_.reset();
    io_.stop();
    thread_.join();
  } else {
    // Never started: no thread runs the loop, and nothing else touches it.
    stopped_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
}

void AcceptLoop::Accept() {
  if (stopped_) return;
  if (hooks_.open_connections() >= max_connections_) {
    // At the cap: make room only when a client is waiting to be accepted.
    acceptor_.async_wait(tcp::acceptor::wait_read, [this](const boost::system::error_code& error) {
      if (stopped_ || error == asio::error::operation_aborted) return;
      if (!error && hooks_.open_connections() < max_connections_) return Accept();
      hooks_.evict_idle();
      PauseThenAccept(kCapRecheck);
    });
    return;
  }
  const asio::any_io_executor executor =
      hooks_.socket_executor ? hooks_.socket_executor() : asio::any_io_executor(io_.get_executor());
  acceptor_.async_accept(
      executor, [this](const boost::system::error_code& error, tcp::socket socket) {
        if (stopped_ || error == asio::error::operation_aborted) return;
        if (error) {
          // Out of descriptors or buffers: give connections time to close.
          error_backoff_ =
              std::clamp(error_backoff_ * 2, std::chrono::milliseconds(1), kMaxErrorBackoff);
          PauseThenAccept(error_backoff_);
          return;
        }
        error_backoff_ = std::chrono::milliseconds(0);
        hooks_.on_accept(std::move(socket));
        Accept();
      });
}

void AcceptLoop::PauseThenAccept(std::chrono::milliseconds delay) {
  pause_timer_.expires_after(delay);
  pause_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) Accept();
  });
}

}  // namespace servekit
