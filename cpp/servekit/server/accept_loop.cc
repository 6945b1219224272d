#include "servekit/server/accept_loop.h"

#include <algorithm>
#include <boost/asio/post.hpp>
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

AcceptLoop::AcceptLoop(asio::io_context& io, int max_connections, Hooks hooks)
    : io_(io),
      strand_(asio::make_strand(io)),
      acceptor_(strand_),
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

void AcceptLoop::Start() {
  asio::post(strand_, [this] { Accept(); });
}

void AcceptLoop::Stop() {
  std::promise<void> closed;
  asio::post(strand_, [this, &closed] {
    stopped_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    pause_timer_.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
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
      hooks_.socket_executor ? hooks_.socket_executor() : asio::make_strand(io_);
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
