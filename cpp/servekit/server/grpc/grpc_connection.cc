#include "servekit/server/grpc/grpc_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "servekit/server/write_what_fits.h"

namespace servekit {

namespace asio = boost::asio;

namespace {

constexpr size_t kReadBufferBytes = 64 << 10;
constexpr size_t kMaxWriteBatchBytes = 256 << 10;
// Per-stream and connection receive windows: a 100 KB batch arrives without
// waiting for WINDOW_UPDATEs; messages stay bounded by max_message_bytes.
constexpr int32_t kStreamWindowBytes = 4 << 20;
constexpr int32_t kConnectionWindowBytes = 16 << 20;

bool Expired(absl::Time deadline) {
  return deadline != absl::InfiniteFuture() && absl::Now() > deadline;
}

Status DeadlinePassed() {
  return absl::DeadlineExceededError(
      "the call's deadline passed before a server thread could run it");
}

nghttp2_nv Header(absl::string_view name, absl::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// A call's grpc-status and grpc-message, owning the text the name-value
// pairs point into (nghttp2 copies them on submit).
struct StatusFields {
  explicit StatusFields(const Status& status)
      : code(std::to_string(static_cast<int>(status.code()))),
        message(PercentEncodeGrpcMessage(status.message())) {}
  void AppendTo(std::vector<nghttp2_nv>* fields) const {
    fields->push_back(Header("grpc-status", code));
    if (!message.empty()) fields->push_back(Header("grpc-message", message));
  }
  const std::string code, message;
};

}  // namespace

struct GrpcConnection::Stream {
  explicit Stream(int32_t id, size_t max_message_bytes) : id(id), reader(max_message_bytes) {}

  const int32_t id;
  // Request headers, as BeginCall needs them, with no copy of a known call's
  // text: :path's entry in the method table (the path itself kept only when
  // the table has no such method, for the error), and whether :method and
  // content-type are what gRPC sends.
  const GrpcMethod* path_method = nullptr;
  std::string unknown_path;
  bool post = false;
  bool grpc_content_type = false;
  const GrpcMethod* handler_method = nullptr;  // set once the call has begun
  GrpcFrameReader reader;
  std::vector<std::string> messages;  // unary: the request
  absl::Time started = absl::Now();
  bool request_complete = false;               // the client half-closed
  size_t held = 0;                             // request bytes counted in request_bytes_held_
  std::unique_ptr<GrpcStreamHandler> handler;  // streaming calls
  std::shared_ptr<Writer> writer;
  bool unary_started = false;  // its handler has been called
  // From grpc-timeout: a call still waiting for a thread at its deadline is
  // answered DEADLINE_EXCEEDED without running (the client has given up).
  absl::Time deadline = absl::InfiniteFuture();
  // Set when the client cancels or the connection closes, so a call queued
  // for another thread is skipped.
  std::shared_ptr<std::atomic<bool>> abandoned;
  // Response.
  std::string out;  // framed messages nghttp2 has not taken yet
  size_t out_taken = 0;
  bool headers_submitted = false;
  bool deferred = false;  // nghttp2 waits for resume_data
  bool finished = false;  // the status is decided
  Status status;
};

// A streaming call's writer: posts to the connection's strand, so handlers may
// write from any thread (the health service writes on status changes).
class GrpcConnection::Writer final : public GrpcCallWriter {
 public:
  Writer(std::weak_ptr<GrpcConnection> connection,
         asio::strand<asio::io_context::executor_type> strand, int32_t stream_id)
      : connection_(std::move(connection)), strand_(std::move(strand)), stream_id_(stream_id) {}

  void Write(std::string message) override {
    asio::post(strand_,
               [connection = connection_, id = stream_id_, message = std::move(message)]() mutable {
                 if (auto c = connection.lock()) c->WriteMessage(id, std::move(message));
               });
  }
  void Finish(const Status& status) override {
    asio::post(strand_, [connection = connection_, id = stream_id_, status] {
      auto c = connection.lock();
      if (c == nullptr) return;
      if (Stream* stream = c->Find(id)) {
        c->FinishCall(stream, status);
        c->Flush();
      }
    });
  }

 private:
  const std::weak_ptr<GrpcConnection> connection_;
  asio::strand<asio::io_context::executor_type> strand_;
  const int32_t stream_id_;
};

struct GrpcConnection::Callbacks {
  static GrpcConnection* Self(void* user_data) { return static_cast<GrpcConnection*>(user_data); }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    GrpcConnection* self = Self(user_data);
    self->idle_since_ns_ = 0;
    self->streams_[frame->hd.stream_id] =
        std::make_unique<Stream>(frame->hd.stream_id, self->options_.max_message_bytes);
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                      void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    GrpcConnection* self = Self(user_data);
    Stream* stream = self->Find(frame->hd.stream_id);
    if (stream == nullptr) return 0;
    const absl::string_view key(reinterpret_cast<const char*>(name), name_length);
    const absl::string_view text(reinterpret_cast<const char*>(value), value_length);
    if (key == ":path") {
      const auto it = self->methods_->find(text);
      stream->path_method = it == self->methods_->end() ? nullptr : &it->second;
      stream->unknown_path = stream->path_method == nullptr ? std::string(text) : std::string();
    } else if (key == ":method") {
      stream->post = text == "POST";
    } else if (key == "content-type") {
      stream->grpc_content_type = absl::StartsWith(text, "application/grpc");
    } else if (key == "grpc-encoding") {
      stream->reader.set_encoding(std::string(text));
    } else if (key == "grpc-timeout") {
      // A malformed value is ignored, as if the client had set no deadline.
      if (StatusOr<absl::Duration> timeout = ParseGrpcTimeout(text); timeout.ok()) {
        stream->deadline = absl::Now() + *timeout;
      }
    }
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    GrpcConnection* self = Self(user_data);
    if (!self->handshake_done_) {
      // nghttp2 checked the preface; this is the client's first frame (SETTINGS).
      self->handshake_done_ = true;
      self->handshake_timer_.cancel();
    }
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      self->OnPingAck();
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    Stream* stream = self->Find(frame->hd.stream_id);
    if (stream == nullptr) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
      self->BeginCall(stream);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) self->OnRequestEnd(stream);
    return 0;
  }

  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                         size_t length, void* user_data) {
    GrpcConnection* self = Self(user_data);
    if (Stream* stream = self->Find(stream_id)) {
      self->OnRequestBytes(stream, absl::string_view(reinterpret_cast<const char*>(data), length));
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user_data) {
    GrpcConnection* self = Self(user_data);
    auto it = self->streams_.find(stream_id);
    if (it == self->streams_.end()) return 0;
    std::unique_ptr<Stream> stream = std::move(it->second);
    self->streams_.erase(it);
    self->request_bytes_held_ -= stream->held;
    self->pending_response_bytes_ -= stream->out.size() - stream->out_taken;
    if (self->streams_.empty()) self->idle_since_ns_ = absl::GetCurrentTimeNanos();
    if (stream->abandoned != nullptr) stream->abandoned->store(true);
    if (stream->handler != nullptr && !stream->finished) stream->handler->OnCancel();
    return 0;
  }

  // nghttp2 asks for the next DATA bytes of a response.
  static ssize_t ReadResponse(nghttp2_session* session, int32_t stream_id, uint8_t* buffer,
                              size_t length, uint32_t* flags, nghttp2_data_source*,
                              void* user_data) {
    Stream* stream = Self(user_data)->Find(stream_id);
    if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const size_t n = std::min(length, stream->out.size() - stream->out_taken);
    std::memcpy(buffer, stream->out.data() + stream->out_taken, n);
    stream->out_taken += n;
    GrpcConnection* self = Self(user_data);
    self->pending_response_bytes_ -= n;
    if (n > 0) self->last_write_progress_ns_ = absl::GetCurrentTimeNanos();
    if (stream->out_taken == stream->out.size()) {
      stream->out.clear();
      stream->out_taken = 0;
      if (stream->finished) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        const StatusFields status(stream->status);
        std::vector<nghttp2_nv> trailers;
        status.AppendTo(&trailers);
        nghttp2_submit_trailer(session, stream_id, trailers.data(), trailers.size());
      } else if (n == 0) {
        stream->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }
};

GrpcConnection::GrpcConnection(asio::io_context& io, asio::ip::tcp::socket socket,
                               const GrpcMethodTable* methods, GrpcConnectionOptions options,
                               std::function<void(GrpcConnection*)> on_closed,
                               std::function<asio::any_io_executor()> call_executor)
    : call_executor_(std::move(call_executor)),
      socket_(std::move(socket)),
      strand_(asio::make_strand(io)),
      handshake_timer_(strand_),
      watchdog_timer_(strand_),
      linger_timer_(strand_),
      idle_since_ns_(absl::GetCurrentTimeNanos()),
      methods_(methods),
      options_(options),
      on_closed_(std::move(on_closed)),
      read_buffer_(kReadBufferBytes) {}

GrpcConnection::~GrpcConnection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

void GrpcConnection::Start() {
  asio::post(strand_, [self = shared_from_this()] {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &Callbacks::OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &Callbacks::OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Callbacks::OnFrame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Callbacks::OnDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Callbacks::OnStreamClose);
    const int rv = nghttp2_session_server_new(&self->session_, callbacks, self.get());
    nghttp2_session_callbacks_del(callbacks);
    if (rv != 0) {
      self->CloseSocket();
      return;
    }
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, self->options_.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindowBytes)},
    };
    nghttp2_submit_settings(self->session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    nghttp2_session_set_local_window_size(self->session_, NGHTTP2_FLAG_NONE, 0,
                                          kConnectionWindowBytes);
    boost::system::error_code ignored;
    self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    self->handshake_timer_.expires_after(self->options_.handshake_timeout);
    self->handshake_timer_.async_wait([self](const boost::system::error_code& error) {
      if (!error && !self->handshake_done_) self->CloseSocket();
    });
    self->Watchdog();
    self->Flush();
    self->Read();
  });
}

void GrpcConnection::Watchdog() {
  if (closed_) return;
  using std::chrono::nanoseconds;
  const int64_t now = absl::GetCurrentTimeNanos();
  const int64_t idle_since = idle_since_ns_.load();
  if (idle_since != 0 && nanoseconds(now - idle_since) >= options_.idle_timeout) CloseIdle();
  const absl::Time request_deadline = absl::Now() - absl::FromChrono(options_.request_timeout);
  for (auto& [id, stream] : streams_) {
    Stream* s = stream.get();
    if (s->finished || s->request_complete || s->handler != nullptr ||
        s->started > request_deadline)
      continue;
    const Status late = absl::DeadlineExceededError(
        absl::StrCat("the request did not arrive in full within ",
                     absl::FormatDuration(absl::FromChrono(options_.request_timeout))));
    s->reader.Discard(late);
    s->messages.clear();
    Recount(s);
    FinishCall(s, late);
  }
  if (pending_response_bytes_ > 0 &&
      nanoseconds(now - last_write_progress_ns_) >= options_.write_timeout) {
    CloseSocket();  // the peer takes none of its responses
    return;
  }
  Flush();
  if (closed_) return;
  const auto shortest =
      std::min({options_.idle_timeout, options_.request_timeout, options_.write_timeout});
  const auto tick = std::clamp<std::chrono::milliseconds>(
      shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  watchdog_timer_.expires_after(tick);
  watchdog_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
    if (!error) self->Watchdog();
  });
}

void GrpcConnection::Recount(Stream* stream) {
  size_t held = stream->reader.buffered_bytes();
  for (const std::string& message : stream->messages) held += message.size();
  request_bytes_held_ = request_bytes_held_ - stream->held + held;
  stream->held = held;
}

void GrpcConnection::AddPendingResponse(Stream* stream, absl::string_view message) {
  if (pending_response_bytes_ == 0) last_write_progress_ns_ = absl::GetCurrentTimeNanos();
  const size_t before = stream->out.size();
  AppendGrpcFrame(message, &stream->out);
  pending_response_bytes_ += stream->out.size() - before;
}

void GrpcConnection::CloseIfIdle() {
  asio::post(strand_, [self = shared_from_this()] { self->CloseIdle(); });
}

void GrpcConnection::CloseIdle() {
  if (closed_ || !streams_.empty()) return;
  if (session_ == nullptr || !handshake_done_) {
    CloseSocket();
    return;
  }
  // A GOAWAY naming the last call; both want_read and want_write turn false
  // once it is sent, and Flush closes the socket.
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  Flush();
}

void GrpcConnection::Drain() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->closed_ || self->session_ == nullptr || self->draining_) return;
    self->draining_ = true;
    // Two steps, as HTTP/2 suggests: a GOAWAY notice with the highest stream
    // id (the client stops starting calls) and a PING; the final GOAWAY names
    // the last call read (MaybeEndDrain), once the PING's ACK is back and
    // every call read so far is answered. A single GOAWAY would refuse calls
    // still in our socket buffer; the ACK alone is not enough either: a
    // client sends it ahead of the calls it started but has not written yet
    // (their HEADERS queued behind megabytes of earlier requests).
    nghttp2_submit_shutdown_notice(self->session_);
    nghttp2_submit_ping(self->session_, NGHTTP2_FLAG_NONE, nullptr);
    for (auto& [id, stream] : self->streams_) {
      if (stream->handler != nullptr)
        self->FinishCall(stream.get(), absl::UnavailableError("the server is shutting down"));
    }
    self->Flush();
  });
}

void GrpcConnection::OnPingAck() {
  if (draining_) ping_acked_ = true;
}

void GrpcConnection::MaybeEndDrain() {
  if (!draining_ || !ping_acked_ || final_goaway_submitted_ || !streams_.empty()) return;
  final_goaway_submitted_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void GrpcConnection::Close() {
  asio::post(strand_, [self = shared_from_this()] { self->CloseSocket(); });
}

void GrpcConnection::Read() {
  read_outstanding_ = true;
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      asio::bind_executor(
          strand_, [self = shared_from_this()](const boost::system::error_code& error,
                                               size_t bytes) { self->OnRead(error, bytes); }));
}

void GrpcConnection::OnRead(const boost::system::error_code& error, size_t bytes) {
  read_outstanding_ = false;
  if (closed_) return;
  if (lingering_) {  // dropped; the client's end of stream (or an error) ends the wait
    if (error) {
      CloseSocket();
    } else {
      Read();
    }
    return;
  }
  if (error) {
    CloseSocket();
    return;
  }
  const ssize_t consumed = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const uint8_t*>(read_buffer_.data()), bytes);
  if (consumed < 0) {
    // A protocol error: nghttp2 has queued a GOAWAY; send it, then close.
    nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    Flush();
    return;
  }
  RunReadyUnaryCalls();
  Flush();
  if (closed_ || !nghttp2_session_want_read(session_)) return;
  if (pending_response_bytes_ > options_.max_pending_response_bytes / 2) {
    reading_paused_ = true;  // resumed once the peer takes its responses (Flush)
    return;
  }
  Read();
}

void GrpcConnection::Flush() {
  if (closed_ || writing_) return;
  while (true) {
    MaybeEndDrain();
    write_buffer_.clear();
    while (write_buffer_.size() < kMaxWriteBatchBytes) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        CloseSocket();
        return;
      }
      if (n == 0) break;
      write_buffer_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (reading_paused_ && pending_response_bytes_ <= options_.max_pending_response_bytes / 2 &&
        nghttp2_session_want_read(session_)) {
      reading_paused_ = false;
      Read();
    }
    if (write_buffer_.empty()) {
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        // A drain has just answered the last calls; otherwise the connection
        // was idle or broke the protocol, and its descriptor is freed at once
        // (a flood of idle connections is closed to let others in).
        if (draining_) {
          CloseGracefully();
        } else {
          CloseSocket();
        }
      }
      return;
    }
    boost::system::error_code error;
    const size_t written = WriteWhatFits(socket_, asio::buffer(write_buffer_), error);
    if (error) {
      CloseSocket();
      return;
    }
    if (written < write_buffer_.size()) {
      write_buffer_.erase(0, written);
      break;
    }
  }
  writing_ = true;
  asio::async_write(
      socket_, asio::buffer(write_buffer_),
      asio::bind_executor(
          strand_, [self = shared_from_this()](const boost::system::error_code& error, size_t) {
            self->writing_ = false;
            if (error) {
              self->CloseSocket();
              return;
            }
            self->Flush();
          }));
}

void GrpcConnection::CloseGracefully() {
  if (closed_ || lingering_) return;
  lingering_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  // A client closes once it has read the GOAWAY and its answers; one that
  // does not is not waited for long.
  constexpr auto kLinger = std::chrono::seconds(2);
  linger_timer_.expires_after(kLinger);
  linger_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
    if (!error) self->CloseSocket();
  });
  if (!read_outstanding_) Read();
}

void GrpcConnection::CloseSocket() {
  if (closed_) return;
  closed_ = true;
  handshake_timer_.cancel();
  watchdog_timer_.cancel();
  linger_timer_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  // Streaming calls learn that their client is gone.
  for (auto& [id, stream] : streams_) {
    if (stream->abandoned != nullptr) stream->abandoned->store(true);
    if (stream->handler != nullptr && !stream->finished) {
      stream->finished = true;
      stream->handler->OnCancel();
    }
  }
  streams_.clear();
  ready_.clear();
  request_bytes_held_ = pending_response_bytes_ = 0;
  if (on_closed_) {
    auto on_closed = std::move(on_closed_);
    on_closed(this);
  }
}

GrpcConnection::Stream* GrpcConnection::Find(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void GrpcConnection::BeginCall(Stream* stream) {
  // Not a gRPC call at all: a bare HTTP status ends the stream.
  const char* refused = !stream->post ? "405" : !stream->grpc_content_type ? "415" : nullptr;
  if (refused != nullptr) {
    const nghttp2_nv headers[] = {Header(":status", refused)};
    nghttp2_submit_response(session_, stream->id, headers, std::size(headers), nullptr);
    stream->finished = stream->headers_submitted = true;
    return;
  }
  if (stream->path_method == nullptr) {
    FinishCall(stream, absl::UnimplementedError(
                           absl::StrCat("unknown gRPC method ", stream->unknown_path)));
    return;
  }
  stream->handler_method = stream->path_method;
  if (stream->handler_method->streaming) {
    stream->writer = std::make_shared<Writer>(weak_from_this(), strand_, stream->id);
    const Status started = GuardedCall([&] {
      stream->handler = stream->handler_method->streaming(stream->writer);
      return absl::OkStatus();
    });
    if (!started.ok()) FinishCall(stream, started);
  }
}

void GrpcConnection::OnRequestBytes(Stream* stream, absl::string_view bytes) {
  if (stream->finished || stream->handler_method == nullptr) return;
  if (request_bytes_held_ + bytes.size() > options_.max_buffered_request_bytes) {
    const Status over = absl::ResourceExhaustedError(
        absl::StrCat("the connection's calls hold more than ", options_.max_buffered_request_bytes,
                     " bytes of requests that have not run yet"));
    stream->reader.Discard(over);
    stream->messages.clear();
    Recount(stream);
    FinishCall(stream, over);
    return;
  }
  const size_t before = stream->messages.size();
  const Status status = stream->reader.Add(bytes, &stream->messages);
  Recount(stream);
  if (!status.ok()) {
    FinishCall(stream, status);
    return;
  }
  if (stream->handler != nullptr) {
    // Streaming: hand over each message as it completes.
    std::vector<std::string> arrived(std::make_move_iterator(stream->messages.begin() + before),
                                     std::make_move_iterator(stream->messages.end()));
    stream->messages.clear();
    Recount(stream);
    for (const std::string& message : arrived) {
      const Status handled = GuardedCall([&] {
        stream->handler->OnMessage(message);
        return absl::OkStatus();
      });
      if (!handled.ok()) FinishCall(stream, handled);
      if (stream->finished) break;
    }
  } else if (stream->messages.size() > 1) {
    FinishCall(stream, absl::InvalidArgumentError(
                           "a unary gRPC call carries one request message, not several"));
  }
}

void GrpcConnection::OnRequestEnd(Stream* stream) {
  stream->request_complete = true;
  if (stream->finished || stream->handler_method == nullptr) return;
  if (!stream->reader.at_boundary()) {
    FinishCall(stream, absl::InvalidArgumentError("the request ended inside a gRPC message"));
    return;
  }
  if (stream->handler != nullptr) {
    const Status handled = GuardedCall([&] {
      stream->handler->OnHalfClose();
      return absl::OkStatus();
    });
    if (!handled.ok()) FinishCall(stream, handled);
    return;
  }
  if (stream->messages.size() != 1) {
    FinishCall(stream, absl::InvalidArgumentError(
                           "a unary gRPC call carries one request message, not none"));
    return;
  }
  ready_.push_back(stream->id);
}

void GrpcConnection::RunReadyUnaryCalls() {
  if (ready_.empty()) return;
  std::vector<int32_t> ready;
  ready.swap(ready_);
  for (const int32_t id : ready) {
    Stream* stream = Find(id);
    if (stream == nullptr || stream->finished || stream->unary_started) continue;
    stream->unary_started = true;
    const GrpcMethod* method = stream->handler_method;
    std::string request = std::move(stream->messages[0]);
    stream->messages.clear();
    Recount(stream);
    // Inline only when this call is the connection's only unfinished one:
    // running it here stops reading, which would hold back the client's
    // other calls (and delay answering calls running elsewhere).
    const bool alone = std::none_of(streams_.begin(), streams_.end(), [&](const auto& entry) {
      return entry.first != id && !entry.second->finished;
    });
    if (alone) {
      if (Expired(stream->deadline)) {
        FinishCall(stream, DeadlinePassed());
        continue;
      }
      std::string response;
      const Status status = method->unary(request, &response);
      Respond(id, status, std::move(response));
      continue;
    }
    stream->abandoned = std::make_shared<std::atomic<bool>>(false);
    asio::post(call_executor_(), [self = shared_from_this(), id, method,
                                  request = std::move(request), deadline = stream->deadline,
                                  abandoned = stream->abandoned] {
      if (abandoned->load()) return;  // nobody is waiting for this answer
      std::string response;
      Status status = Expired(deadline) ? DeadlinePassed() : method->unary(request, &response);
      asio::post(self->strand_,
                 [self, id, status = std::move(status), response = std::move(response)]() mutable {
                   self->Respond(id, status, std::move(response));
                   self->Flush();
                 });
    });
  }
}

void GrpcConnection::Respond(int32_t stream_id, const Status& status, std::string response) {
  if (closed_) return;
  Stream* stream = Find(stream_id);
  if (stream == nullptr || stream->finished) return;  // the client cancelled
  if (!status.ok()) {
    FinishCall(stream, status);
    return;
  }
  if (response.size() > options_.max_message_bytes) {
    FinishCall(stream, absl::ResourceExhaustedError(
                           absl::StrCat("the response (", response.size(),
                                        " bytes) is larger than the maximum message size (",
                                        options_.max_message_bytes, " bytes)")));
    return;
  }
  if (ResponsesOverBudget(response.size() + kGrpcFrameHeaderBytes)) {
    FinishCall(
        stream,
        absl::ResourceExhaustedError(absl::StrCat(
            "the client has not read ", pending_response_bytes_,
            " bytes of earlier responses on this connection; this one would exceed the limit of ",
            options_.max_pending_response_bytes, " bytes")));
    return;
  }
  AddPendingResponse(stream, response);
  FinishCall(stream, status);
}

void GrpcConnection::WriteMessage(int32_t stream_id, std::string message) {
  if (closed_) return;
  Stream* stream = Find(stream_id);
  if (stream == nullptr || stream->finished) return;
  if (ResponsesOverBudget(message.size() + kGrpcFrameHeaderBytes)) {
    FinishCall(stream,
               absl::ResourceExhaustedError("the client is not reading this call's messages"));
    Flush();
    return;
  }
  AddPendingResponse(stream, message);
  if (!stream->headers_submitted) {
    SubmitHeaders(stream);
  } else if (stream->deferred) {
    stream->deferred = false;
    nghttp2_session_resume_data(session_, stream->id);
  }
  Flush();
}

void GrpcConnection::SubmitHeaders(Stream* stream) {
  const nghttp2_nv headers[] = {Header(":status", "200"),
                                Header("content-type", "application/grpc"),
                                Header("grpc-accept-encoding", kGrpcAcceptedEncodings)};
  nghttp2_data_provider body;
  body.source.ptr = nullptr;
  body.read_callback = &Callbacks::ReadResponse;
  nghttp2_submit_response(session_, stream->id, headers, std::size(headers), &body);
  stream->headers_submitted = true;
}

void GrpcConnection::FinishCall(Stream* stream, const Status& status) {
  if (stream->finished) return;
  stream->finished = true;
  stream->status = status;
  if (!stream->headers_submitted) {
    if (stream->out.empty()) {
      // Trailers-only: one HEADERS frame with the status ends the call.
      const StatusFields fields(status);
      std::vector<nghttp2_nv> headers = {Header(":status", "200"),
                                         Header("content-type", "application/grpc")};
      fields.AppendTo(&headers);
      nghttp2_submit_response(session_, stream->id, headers.data(), headers.size(), nullptr);
      stream->headers_submitted = true;
    } else {
      SubmitHeaders(stream);
    }
  } else if (stream->deferred) {
    stream->deferred = false;
    nghttp2_session_resume_data(session_, stream->id);
  }
}

}  // namespace servekit
