// GrpcConnection: one client's HTTP/2 connection (nghttp2 over Asio) carrying
// gRPC calls to a GrpcMethodTable.
//
// Why not grpc++'s server: on a small Predict, grpc++ 1.51 spent more server
// CPU per call than our whole REST path (thread hand-offs between its pollers
// and handlers, a chain of filters and allocations per call). Here a call's
// bytes are read, parsed, handled and answered on the thread that read them.
//
// Everything on a connection runs on its strand. A unary call that is the
// connection's only open call runs inline there (the common case: no thread
// hand-off); when a client multiplexes calls on one channel, they run on the
// server's other threads while the strand goes on reading, so one channel
// still uses every core. Streaming handlers run on the strand. nghttp2 stays
// inside grpc_connection.cc.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "servekit/server/grpc/grpc_framing.h"
#include "servekit/server/grpc/grpc_method.h"

struct nghttp2_session;

namespace servekit {

struct GrpcConnectionOptions {
  size_t max_message_bytes = 64 << 20;  // each request and response message
  uint32_t max_concurrent_streams = 256;
  // A client that has not sent the HTTP/2 preface and its SETTINGS by then is
  // disconnected (a connected socket that says nothing holds a descriptor).
  std::chrono::milliseconds handshake_timeout{20000};
  // A connection with no open call for this long is closed with a GOAWAY
  // (gRPC clients reconnect when they next need it).
  std::chrono::milliseconds idle_timeout{120000};
  // A unary call whose request has not arrived in full by then ends with
  // DEADLINE_EXCEEDED (a client that starts calls and stalls holds memory).
  std::chrono::milliseconds request_timeout{30000};
  // Response bytes waiting for a peer that reads none of them (its socket or
  // its HTTP/2 flow-control window stays shut) for this long close the connection.
  std::chrono::milliseconds write_timeout{30000};
  // Memory one connection may hold for its peer, across all its calls:
  // requests not yet complete (RESOURCE_EXHAUSTED for the call that would go
  // over) and responses the peer has not taken (RESOURCE_EXHAUSTED instead of
  // a response that would go over; reading pauses while it is over half).
  size_t max_buffered_request_bytes = size_t{128} << 20;
  size_t max_pending_response_bytes = size_t{128} << 20;
};

class GrpcConnection : public std::enable_shared_from_this<GrpcConnection> {
 public:
  // `io` is the context the socket runs on (the connection's strand is made on
  // it); a unary call that arrives while another call of this connection is
  // unfinished runs on `call_executor()`'s context, so that calls multiplexed
  // on one connection run in parallel (a lone call runs inline, with no
  // hand-off). `on_closed` runs once, on the strand, when the socket has
  // been closed.
  GrpcConnection(boost::asio::io_context& io, boost::asio::ip::tcp::socket socket,
                 const GrpcMethodTable* methods, GrpcConnectionOptions options,
                 std::function<void(GrpcConnection*)> on_closed,
                 std::function<boost::asio::any_io_executor()> call_executor);
  ~GrpcConnection();
  GrpcConnection(const GrpcConnection&) = delete;
  GrpcConnection& operator=(const GrpcConnection&) = delete;

  // Each of these is thread-safe: it posts to the strand.
  void Start();
  // Graceful: a GOAWAY notice and a PING, then the final GOAWAY once the
  // PING is back and every call read is answered (calls already started go
  // on, new ones are refused); streaming calls end with UNAVAILABLE; the
  // socket closes when the last call is answered.
  void Drain();
  void Close();
  // Closes the connection (GOAWAY) if it has no open call.
  void CloseIfIdle();

  // When the connection last had no open call (set from its start); 0 while
  // a call is open. Any thread.
  int64_t idle_since_ns() const { return idle_since_ns_.load(std::memory_order_relaxed); }

 private:
  struct Stream;
  class Writer;
  struct Callbacks;  // nghttp2's callbacks, in the .cc

  void Read();
  void OnRead(const boost::system::error_code& error, size_t bytes);
  // Hands nghttp2's pending frames to the socket; closes when nothing is left
  // to read or write (CloseGracefully in a drain).
  void Flush();
  // Everything is sent: half-closes, then reads and drops what the client
  // still sends until it closes too (or kLinger passes), then CloseSocket.
  // Closing with unread bytes (a client's WINDOW_UPDATE or PING ACK) makes
  // the kernel answer RST, which can drop what it has not sent yet: the end
  // of the last response.
  void CloseGracefully();
  void CloseSocket();
  void OnPingAck();  // the drain's second step
  // The drain's last step, when its time has come (see Drain).
  void MaybeEndDrain();
  // One timer for the connection's life: the idle, request and write timeouts.
  void Watchdog();
  void CloseIdle();  // on the strand
  // Keeps request_bytes_held_ in step with what `stream` holds.
  void Recount(Stream* stream);
  void AddPendingResponse(Stream* stream, absl::string_view message);
  bool ResponsesOverBudget(size_t more) const {
    return pending_response_bytes_ + more > options_.max_pending_response_bytes;
  }

  // Request headers are complete: check them and pick the method.
  void BeginCall(Stream* stream);
  void OnRequestBytes(Stream* stream, absl::string_view bytes);
  void OnRequestEnd(Stream* stream);
  void RunReadyUnaryCalls();
  void Respond(int32_t stream_id, const Status& status, std::string response);
  // Streaming writers' entry points (on the strand).
  void WriteMessage(int32_t stream_id, std::string message);
  void FinishCall(Stream* stream, const Status& status);
  void SubmitHeaders(Stream* stream);
  Stream* Find(int32_t stream_id);

  const std::function<boost::asio::any_io_executor()> call_executor_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer handshake_timer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer linger_timer_;
  std::atomic<int64_t> idle_since_ns_;
  bool handshake_done_ = false;
  const GrpcMethodTable* const methods_;
  const GrpcConnectionOptions options_;
  std::function<void(GrpcConnection*)> on_closed_;

  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<int32_t> ready_;  // unary calls whose request is complete
  std::vector<char> read_buffer_;
  std::string write_buffer_;
  size_t request_bytes_held_ = 0;       // partial and unrun requests, all calls
  size_t pending_response_bytes_ = 0;   // framed responses nghttp2 has not taken
  int64_t last_write_progress_ns_ = 0;  // when the socket last took bytes
  bool reading_paused_ = false;         // responses pile up: stop reading requests
  bool writing_ = false;
  bool read_outstanding_ = false;  // an async read is waiting for its handler
  bool lingering_ = false;         // CloseGracefully has half-closed the socket
  bool closed_ = false;
  bool draining_ = false;
  bool ping_acked_ = false;  // the drain's PING came back
  bool final_goaway_submitted_ = false;
};

}  // namespace servekit
