#include "servekit/server/http/http_server.h"

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "servekit/server/accept_loop.h"
#include "servekit/server/http/request_arena.h"
#include "servekit/server/http/response_head.h"
#include "servekit/server/io_context_pool.h"
#include "servekit/server/write_what_fits.h"
#include "servekit/util/json_writer.h"

namespace servekit {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Requests' header fields live in their connection's RequestArena.
using Request = http::request<http::string_body, http::basic_fields<ArenaAllocator<char>>>;
using RequestParser = http::request_parser<http::string_body, ArenaAllocator<char>>;

constexpr size_t kReadChunk = 16 << 10;

// A session keeps a request's body buffer and its answer's for the next
// request, up to this capacity: a predict's few kilobytes then cost no malloc
// and free per request, and a connection left idle holds no more than its
// read buffer again.
constexpr size_t kRecycledBufferBytes = 16 << 10;

// `buffer`'s memory, emptied, to be written again; none if it is over the limit.
std::string Recycled(std::string& buffer) {
  std::string kept;
  if (buffer.capacity() <= kRecycledBufferBytes) {
    kept.swap(buffer);
    kept.clear();
  }
  buffer = std::string();
  return kept;
}

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How often the server looks for connections past their deadline: a quarter
// of the shortest timeout, within [10 ms, 1 s]. A timeout therefore fires up
// to a quarter late (at most a second).
std::chrono::nanoseconds SweepInterval(const HttpServerOptions& options) {
  const absl::Duration quarter = std::min(options.timeout, options.idle_timeout) / 4;
  return absl::ToChronoNanoseconds(std::clamp(quarter, absl::Milliseconds(10), absl::Seconds(1)));
}

absl::string_view View(beast::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string ErrorBody(absl::string_view message) {
  std::string body;
  JsonWriter(&body).BeginObject().Key("error").String(message).EndObject();
  return body;
}

// A JSON error answer: {"error": message}.
HttpResponse ErrorResponse(int status, absl::string_view message) {
  HttpResponse response;
  response.status = status;
  response.body = ErrorBody(message);
  return response;
}

// Why `response` cannot be written as HTTP (a status outside 100-599, a body
// on a 1xx, 204 or 304 answer, a header name that is not a token, a value with
// CR, LF or NUL that would split or end the header, more header bytes than a
// client accepts), or "".
std::string InvalidResponse(const HttpResponse& response) {
  if (response.status < 100 || response.status > 599)
    return absl::StrCat("status ", response.status, " is not an HTTP status");
  auto is_token = [](absl::string_view name) {
    if (name.empty()) return false;
    for (const char c : name) {
      const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                      absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
      if (!ok) return false;
    }
    return true;
  };
  // No allocation on the way: every answer passes through here.
  size_t bytes = 0;
  std::string why;
  auto check = [&](absl::string_view name, absl::string_view value) {
    if (!why.empty()) return;
    if (!is_token(name)) {
      why = absl::StrCat("header name '", absl::CEscape(name), "' is not a token");
    } else if (value.find_first_of(absl::string_view("\r\n\0", 3)) != absl::string_view::npos) {
      why = absl::StrCat("header '", name, "' has CR, LF or NUL in its value");
    }
    bytes += name.size() + value.size();
  };
  const int status = response.status;
  if (!response.bodiless && !response.body.empty() &&
      (status < 200 || status == 204 || status == 304)) {
    return absl::StrCat("a ", status, " answer has no body, and this one has ",
                        response.body.size(), " bytes");
  }
  check("Content-Type", response.content_type);
  for (const auto& [name, value] : response.headers) check(name, value);
  if (!why.empty()) return why;
  constexpr size_t kMaxHeaderBytes = 48 << 10;
  if (bytes > kMaxHeaderBytes)
    return absl::StrCat("its header fields take ", bytes, " bytes, over ", kMaxHeaderBytes);
  return "";
}

}  // namespace

class HttpSession;

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions o, HttpHandler h)
      : options(std::move(o)),
        handler(std::move(h)),
        pool(options.num_threads),
        accept_loop(options.max_connections,
                    {[this](tcp::socket socket) { StartSession(std::move(socket)); },
                     [this] { EvictOldestIdle(); },
                     [this] {
                       std::lock_guard<std::mutex> lock(sessions_mu);
                       return static_cast<int>(sessions.size());
                     },
                     [this] { return asio::any_io_executor(pool.Next().get_executor()); }}) {}

  HttpServerOptions options;
  HttpHandler handler;
  // Declared before the pool: sessions unregister themselves while the pool's
  // pending handlers are destroyed.
  std::mutex sessions_mu;
  std::unordered_set<HttpSession*> sessions;
  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> draining{false};
  IoContextPool pool;      // one io_context per thread; each session stays on one
  AcceptLoop accept_loop;  // on a thread of its own
  // One timer for every connection's deadlines (see Sweep), on pool.first();
  // declared after the pool, so that it goes before its io_context does.
  asio::steady_timer sweep_timer{pool.first()};
  const std::chrono::nanoseconds sweep_interval = SweepInterval(options);
  std::mutex stop_mu;
  bool stopped = false;
  bool drained = true;

  void StartSession(tcp::socket socket);
  void EvictOldestIdle();
  // Ends what has outlived its deadline on each connection (an idle wait, a
  // request's read, a response's write), then waits sweep_interval and goes
  // again. Why not a timer per connection: arming and cancelling one for the
  // idle wait, the read and the write cost every request three timer-queue
  // updates, three queued handlers and, whenever the earliest deadline moved
  // (always, at one connection), a timerfd_settime system call each.
  void Sweep();
  std::vector<std::shared_ptr<HttpSession>> LiveSessions();
};

// HttpRequestExtras over a Beast request and its connection.
class Extras final : public HttpRequestExtras {
 public:
  Extras(const Request& request, const tcp::socket& socket) : request_(request), socket_(socket) {}
  void ForEachHeader(
      absl::FunctionRef<void(absl::string_view, absl::string_view)> visit) const override {
    for (const auto& field : request_) visit(View(field.name_string()), View(field.value()));
  }
  std::string RemoteAddress() const override {
    beast::error_code error;
    const tcp::endpoint peer = socket_.remote_endpoint(error);
    return error ? std::string() : peer.address().to_string();
  }

 private:
  const Request& request_;
  const tcp::socket& socket_;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, HttpServer::Impl* server)
      : socket_(std::move(socket)), server_(server) {
    // Beast reads at most the buffer's free capacity per system call: an
    // empty buffer would take a predict body ~200 bytes at a time.
    buffer_.reserve(kReadChunk);
    std::lock_guard<std::mutex> lock(server_->sessions_mu);
    server_->sessions.insert(this);
  }
  ~HttpSession() {
    std::lock_guard<std::mutex> lock(server_->sessions_mu);
    server_->sessions.erase(this);
  }

  void Start() {
    asio::dispatch(socket_.get_executor(),
                   beast::bind_front_handler(&HttpSession::Read, shared_from_this()));
  }

  // Closes the connection if it is waiting for a request that has not begun
  // to arrive (drain, eviction at the connection cap).
  void CloseIfIdle() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->idle_since_ns_.load() != 0) self->Close();
    });
  }

  // Whether the connection's current wait (for a request, its bytes or its
  // response's write) has a deadline that `now_ns` (steady clock) has passed.
  // Any thread.
  bool PastDeadline(int64_t now_ns) const {
    const int64_t deadline = deadline_ns_.load(std::memory_order_relaxed);
    return deadline != 0 && now_ns >= deadline;
  }

  // Ends the wait that PastDeadline found late, unless it has ended meanwhile:
  // an idle connection or a stalled write is closed; a request still being
  // read is answered 408 (or closed if none of it came). Any thread.
  void OnDeadline() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (!self->PastDeadline(SteadyNanos())) return;
      const Wait wait = self->wait_;
      self->ClearDeadline();
      if (wait == Wait::kRequest) {
        self->timed_out_ = true;
        beast::error_code ignored;
        self->socket_.cancel(ignored);  // OnRead then sees the timeout
      } else {
        self->Close();
      }
    });
  }

  // When the connection began to wait for its next request; 0 while a
  // request is under way.
  int64_t idle_since_ns() const { return idle_since_ns_.load(std::memory_order_relaxed); }

 private:
  // What the connection waits for, each with its own deadline (on its executor).
  enum class Wait { kNothing, kIdle, kRequest, kWrite };

  void SetDeadline(Wait wait, absl::Duration after) {
    wait_ = wait;
    const int64_t now = SteadyNanos();
    const int64_t ns = absl::ToInt64Nanoseconds(std::max(after, absl::ZeroDuration()));
    const int64_t max = std::numeric_limits<int64_t>::max();
    deadline_ns_.store(ns > max - now ? max : std::max<int64_t>(now + ns, 1),
                       std::memory_order_relaxed);
  }
  void ClearDeadline() {
    wait_ = Wait::kNothing;
    deadline_ns_.store(0, std::memory_order_relaxed);
  }

  // Waits for the first byte of the next request for up to idle_timeout;
  // the request timeout starts with that byte.
  void Read() {
    if (buffer_.size() > 0) return ReadRequest();  // pipelined: already here
    if (server_->draining) return Close();
    idle_since_ns_ = absl::GetCurrentTimeNanos();
    SetDeadline(Wait::kIdle, server_->options.idle_timeout);
    // A read rather than a wait for readability: asio re-arms the socket in
    // epoll (an epoll_ctl system call) for every wait, but not for a read,
    // and the bytes read here are the request's first ones anyway.
    socket_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                              self->buffer_.commit(bytes);
                              self->idle_since_ns_ = 0;
                              self->ClearDeadline();
                              // Closed meanwhile (idle timeout, drain, eviction)
                              // with the read's completion already queued: the
                              // request read so far must not run.
                              if (ec || !self->socket_.is_open()) return self->Close();
                              self->ReadRequest();
                            });
  }

  void ReadRequest() {
    idle_since_ns_ = 0;
    std::string body;
    if (parser_) body = Recycled(parser_->get().body());
    parser_.reset();
    arena_.Reset();  // nothing from it is alive: the last request's fields went with its parser
    parser_.emplace(std::piecewise_construct, std::forward_as_tuple(std::move(body)),
                    std::forward_as_tuple(ArenaAllocator<char>(&arena_)));
    parser_->body_limit(server_->options.max_body_bytes);
    timed_out_ = false;
    SetDeadline(Wait::kRequest, server_->options.timeout);
    // The first read usually brought the whole request: parse what is here
    // at once. Beast's async_read would post its way through the scheduler
    // twice first (each a queued handler and an epoll_wait system call).
    beast::error_code ec;
    while (!parser_->is_done() && buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    if (ec || parser_->is_done()) return OnRead(ec, 0);
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    ClearDeadline();
    if (ec && timed_out_) ec = beast::error::timeout;
    if (ec) return OnReadError(ec);
    Request& request = parser_->get();
    ++server_->in_flight;
    HttpResponse response;
    response.body = Recycled(body_);  // the last answer's, sent by now
    const Extras extras(request, socket_);
    try {
      server_->handler(HttpRequest{View(request.method_string()), View(request.target()),
                                   request.body(), &extras},
                       &response);
    } catch (const std::exception& e) {
      response = ErrorResponse(500, absl::StrCat("internal error: ", e.what()));
    }
    Send(std::move(response), request.keep_alive() && !server_->draining, /*counted=*/true);
  }

  void OnReadError(beast::error_code ec) {
    const bool started = parser_->got_some() || buffer_.size() > 0;
    if (ec == http::error::body_limit) {
      return Send(ErrorResponse(413, absl::StrCat("request body is larger than the limit of ",
                                                  server_->options.max_body_bytes, " bytes")),
                  false, false);
    }
    if (ec == http::error::header_limit) {
      return Send(ErrorResponse(431, "request headers are too large"), false, false);
    }
    if (ec == beast::error::timeout) {
      if (started) return Send(ErrorResponse(408, "timed out reading the request"), false, false);
      return Close();
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() && started &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Send(ErrorResponse(400, absl::StrCat("malformed HTTP request: ", ec.message())), false,
                  false);
    }
    Close();  // the client went away (end of stream, reset, cancelled at drain)
  }

  void Send(HttpResponse response, bool keep_alive, bool counted) {
    if (std::string why = InvalidResponse(response); !why.empty()) {
      response =
          ErrorResponse(500, absl::StrCat("internal error: the answer is not valid HTTP: ", why));
    }
    head_.clear();
    const auto status = static_cast<http::status>(response.status);
    AppendResponseHead(response, View(http::obsolete_reason(status)), keep_alive, &head_);
    body_.clear();
    if (!response.bodiless) body_ = std::move(response.body);
    const std::array<asio::const_buffer, 2> buffers = {asio::buffer(head_), asio::buffer(body_)};
    // The rest of a longer answer, or of one the peer is slow to take, is
    // left to async_write.
    beast::error_code ec;
    const size_t written = WriteWhatFits(socket_, buffers, ec);
    if (ec || written == head_.size() + body_.size()) return OnWritten(ec, keep_alive, counted);
    beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(buffers);
    rest.consume(written);
    SetDeadline(Wait::kWrite, server_->options.timeout);
    asio::async_write(
        socket_, rest,
        [self = shared_from_this(), keep_alive, counted](beast::error_code ec, size_t) {
          self->OnWritten(ec, keep_alive, counted);
        });
  }

  void OnWritten(beast::error_code ec, bool keep_alive, bool counted) {
    ClearDeadline();
    if (counted) --server_->in_flight;
    if (ec || !keep_alive) return Close();
    if (buffer_.size() > 0) {
      // Pipelined requests are already here: the next one runs from the
      // scheduler, so that a long pipeline cannot nest calls without bound.
      asio::post(socket_.get_executor(),
                 beast::bind_front_handler(&HttpSession::Read, shared_from_this()));
      return;
    }
    Read();
  }

  void Close() {
    ClearDeadline();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  HttpServer::Impl* server_;
  beast::flat_buffer buffer_;
  RequestArena arena_;  // before parser_, which frees into it when destroyed
  std::optional<RequestParser> parser_;
  std::string head_;  // the response being written: status line and fields
  std::string body_;  // and its body
  std::atomic<int64_t> idle_since_ns_{0};
  std::atomic<int64_t> deadline_ns_{0};  // steady clock; 0: none
  Wait wait_ = Wait::kNothing;           // what deadline_ns_ is for
  bool timed_out_ = false;               // the request's read was cancelled at its deadline
};

void HttpServer::Impl::StartSession(tcp::socket socket) {
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // small responses go out at once
  std::make_shared<HttpSession>(std::move(socket), this)->Start();
}

void HttpServer::Impl::EvictOldestIdle() {
  std::shared_ptr<HttpSession> oldest;  // released outside the lock: its destructor takes it
  {
    std::lock_guard<std::mutex> lock(sessions_mu);
    HttpSession* pick = nullptr;
    int64_t pick_since = 0;
    for (HttpSession* s : sessions) {
      const int64_t since = s->idle_since_ns();
      if (since != 0 && (pick == nullptr || since < pick_since)) {
        pick = s;
        pick_since = since;
      }
    }
    if (pick != nullptr) oldest = pick->weak_from_this().lock();
  }
  if (oldest) oldest->CloseIfIdle();
}

void HttpServer::Impl::Sweep() {
  const int64_t now = SteadyNanos();
  std::vector<std::shared_ptr<HttpSession>> late;  // released outside the lock, as above
  {
    std::lock_guard<std::mutex> lock(sessions_mu);
    for (HttpSession* s : sessions) {
      if (!s->PastDeadline(now)) continue;
      if (auto alive = s->weak_from_this().lock()) late.push_back(std::move(alive));
    }
  }
  for (const auto& session : late) session->OnDeadline();
  late.clear();
  sweep_timer.expires_after(sweep_interval);
  sweep_timer.async_wait([this](const boost::system::error_code& error) {
    if (!error) Sweep();
  });
}

std::vector<std::shared_ptr<HttpSession>> HttpServer::Impl::LiveSessions() {
  std::lock_guard<std::mutex> lock(sessions_mu);
  std::vector<std::shared_ptr<HttpSession>> out;
  for (HttpSession* s : sessions) {
    if (auto alive = s->weak_from_this().lock()) out.push_back(std::move(alive));
  }
  return out;
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                        HttpHandler handler) {
  if (options.num_threads < 1)
    return absl::InvalidArgumentError("the HTTP server needs at least one thread");
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  if (impl->options.listen_fd >= 0) {
    RETURN_IF_ERROR(impl->accept_loop.Adopt(impl->options.listen_fd, "HTTP"));
  } else {
    RETURN_IF_ERROR(impl->accept_loop.Listen(impl->options.address, impl->options.port, "HTTP"));
  }
  impl->accept_loop.Start();
  asio::post(impl->pool.first(), [impl = impl.get()] { impl->Sweep(); });
  impl->pool.Start();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(absl::ZeroDuration()); }

int HttpServer::port() const { return impl_->accept_loop.port(); }

int HttpServer::open_connections() const {
  std::lock_guard<std::mutex> lock(impl_->sessions_mu);
  return static_cast<int>(impl_->sessions.size());
}

int64_t HttpServer::requests_in_flight() const { return impl_->in_flight.load(); }

bool HttpServer::Stop(absl::Duration drain_timeout) {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return impl_->drained;
  impl_->stopped = true;
  impl_->draining = true;
  impl_->accept_loop.Stop();  // no connection is accepted after this
  const absl::Time deadline = absl::Now() + drain_timeout;
  while (true) {
    std::vector<std::shared_ptr<HttpSession>> live = impl_->LiveSessions();
    if (live.empty()) break;
    for (const auto& session : live) session->CloseIfIdle();
    live.clear();
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  impl_->drained = impl_->in_flight.load() == 0;
  impl_->pool.Stop();
  return impl_->drained;
}

}  // namespace servekit
