// The gRPC server's connection handling below the calls (server/grpc_server.h,
// grpc_connection.h): binding, the handshake timeout, traffic that is not
// HTTP/2, and the two-step drain. Calls themselves are tested with the
// official client in tests/grpc_client.
#include "servekit/server/grpc/grpc_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "loopback_socket.h"
#include "servekit/server/grpc/grpc_connection.h"

namespace servekit {
namespace {

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kHeaders = 0x1, kSettings = 0x4, kPing = 0x6, kGoaway = 0x7;
constexpr uint8_t kEndStream = 0x1, kEndHeaders = 0x4;

struct Frame {
  uint8_t type = 0, flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

std::string FrameBytes(uint8_t type, uint8_t flags, const std::string& payload,
                       uint32_t stream = 0) {
  std::string out;
  out.push_back(static_cast<char>(payload.size() >> 16));
  out.push_back(static_cast<char>(payload.size() >> 8));
  out.push_back(static_cast<char>(payload.size()));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>(stream >> shift));
  return out + payload;
}

// An HPACK header block (nghttp2's encoder) for `fields`.
std::string HeaderBlock(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<nghttp2_nv> nva;
  for (const auto& [name, value] : fields) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                   value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_hd_deflater* deflater = nullptr;
  nghttp2_hd_deflate_new(&deflater, 4096);
  std::string block(nghttp2_hd_deflate_bound(deflater, nva.data(), nva.size()), '\0');
  const ssize_t n = nghttp2_hd_deflate_hd(deflater, reinterpret_cast<uint8_t*>(block.data()),
                                          block.size(), nva.data(), nva.size());
  nghttp2_hd_deflate_del(deflater);
  block.resize(n > 0 ? n : 0);
  return block;
}

// Decodes a connection's response header blocks in order (HPACK's dynamic
// table spans the connection, so later blocks need the earlier ones).
class HeaderDecoder {
 public:
  HeaderDecoder() { nghttp2_hd_inflate_new(&inflater_); }
  ~HeaderDecoder() { nghttp2_hd_inflate_del(inflater_); }
  // The value of `name` in `block`, or "".
  std::string Value(const std::string& block, const std::string& name) {
    std::string value;
    const auto* in = reinterpret_cast<const uint8_t*>(block.data());
    size_t left = block.size();
    while (true) {
      nghttp2_nv field;
      int flags = 0;
      const ssize_t used =
          nghttp2_hd_inflate_hd2(inflater_, &field, &flags, in, left, /*in_final=*/1);
      if (used < 0) break;
      in += used;
      left -= used;
      if ((flags & NGHTTP2_HD_INFLATE_EMIT) &&
          std::string(reinterpret_cast<char*>(field.name), field.namelen) == name) {
        value.assign(reinterpret_cast<char*>(field.value), field.valuelen);
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater_);
        break;
      }
      if (used == 0 && left == 0) break;
    }
    return value;
  }

 private:
  nghttp2_hd_inflater* inflater_ = nullptr;
};

// The value of `name` in an HPACK header block (a fresh decoder: the
// server's first response on the connection).
std::string FieldValue(const std::string& block, const std::string& name) {
  return HeaderDecoder().Value(block, name);
}

uint32_t BigEndian32(const std::string& bytes, size_t at) {
  return (uint32_t{static_cast<uint8_t>(bytes[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(bytes[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(bytes[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(bytes[at + 3])};
}

// A blocking loopback client speaking raw HTTP/2 frames.
class RawClient {
 public:
  explicit RawClient(int port) {
    bool connected = false;
    fd_ = test::ConnectLoopback(port, &connected);
    EXPECT_TRUE(connected);
  }
  ~RawClient() { close(fd_); }

  void Send(const std::string& data) {
    ASSERT_EQ(send(fd_, data.data(), data.size(), MSG_NOSIGNAL), (ssize_t)data.size());
  }

  // The next frame, or nullopt once the server has closed (or after 10 s: `timed_out`).
  std::optional<Frame> Next() {
    while (true) {
      if (buffer_.size() >= 9) {
        const size_t length = (size_t{static_cast<uint8_t>(buffer_[0])} << 16) |
                              (size_t{static_cast<uint8_t>(buffer_[1])} << 8) |
                              static_cast<uint8_t>(buffer_[2]);
        if (buffer_.size() >= 9 + length) {
          Frame frame{static_cast<uint8_t>(buffer_[3]), static_cast<uint8_t>(buffer_[4]),
                      BigEndian32(buffer_, 5) & 0x7fffffff, buffer_.substr(9, length)};
          buffer_.erase(0, 9 + length);
          return frame;
        }
      }
      char chunk[4096];
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        timed_out = n < 0;
        return std::nullopt;
      }
      buffer_.append(chunk, n);
    }
  }
  // Reads frames until one of `type` (returned) or the end.
  std::optional<Frame> NextOfType(uint8_t type) {
    while (auto frame = Next()) {
      if (frame->type == type) return frame;
    }
    return std::nullopt;
  }
  // True when the server closes the connection (rather than the read timing out).
  bool ClosedByServer() {
    while (Next()) {
    }
    return !timed_out;
  }

  bool timed_out = false;

 private:
  int fd_;
  std::string buffer_;
};

class GrpcServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<GrpcServer> StartServer(absl::Duration handshake_timeout = absl::Seconds(20),
                                          GrpcServerOptions options = {}) {
    options.handshake_timeout = handshake_timeout;
    options.num_threads = 2;
    auto server = GrpcServer::Start(&core_, options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  ServerCore core_{ServerCoreOptions{}};
};

TEST_F(GrpcServerTest, BadAddressAndBusyPortAreClearErrors) {
  GrpcServerOptions options;
  options.address = "not an address";
  EXPECT_EQ(GrpcServer::Start(&core_, options).status().code(), absl::StatusCode::kInvalidArgument);
  options.address = "127.0.0.1";
  options.port = 70000;
  EXPECT_EQ(GrpcServer::Start(&core_, options).status().code(), absl::StatusCode::kInvalidArgument);
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  options.port = first->port();
  const auto busy = GrpcServer::Start(&core_, options);
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(busy.status().message().find(std::to_string(first->port())), std::string::npos)
      << busy.status();
}

TEST_F(GrpcServerTest, AClientThatSaysNothingIsDisconnectedAfterTheHandshakeTimeout) {
  auto server = StartServer(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  RawClient silent(server->port());
  EXPECT_TRUE(silent.ClosedByServer());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // A client that completed the handshake stays connected while idle.
  RawClient idle(server->port());
  idle.Send(std::string(kPreface) + FrameBytes(kSettings, 0, ""));
  absl::SleepFor(absl::Milliseconds(500));
  idle.Send(FrameBytes(kPing, 0, "12345678"));
  auto ack = idle.NextOfType(kPing);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->flags, 0x1);
  EXPECT_EQ(ack->payload, "12345678");
}

TEST_F(GrpcServerTest, TrafficThatIsNotHttp2IsDroppedAndTheServerKeepsServing) {
  auto server = StartServer();
  for (const std::string& junk :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string(100, '\0'),
        std::string(kPreface) + std::string(64, '\xff')}) {
    RawClient client(server->port());
    client.Send(junk);
    EXPECT_TRUE(client.ClosedByServer());
  }
  RawClient good(server->port());
  good.Send(std::string(kPreface) + FrameBytes(kSettings, 0, ""));
  auto settings = good.NextOfType(kSettings);
  ASSERT_TRUE(settings.has_value());
}

TEST_F(GrpcServerTest, RequestsThatAreNotGrpcCallsGetAnHttpStatus) {
  auto server = StartServer();
  const std::vector<std::pair<std::string, std::string>> base = {
      {":scheme", "http"},
      {":authority", "x"},
      {":path", "/tensorflow.serving.PredictionService/Predict"}};
  struct Case {
    std::string method, content_type, status;
  };
  for (const Case& c :
       {Case{"GET", "application/grpc", "405"}, Case{"POST", "text/plain", "415"}}) {
    RawClient client(server->port());
    auto fields = base;
    fields.push_back({":method", c.method});
    fields.push_back({"content-type", c.content_type});
    client.Send(std::string(kPreface) + FrameBytes(kSettings, 0, "") +
                FrameBytes(kHeaders, kEndStream | kEndHeaders, HeaderBlock(fields), /*stream=*/1));
    auto response = client.NextOfType(kHeaders);
    ASSERT_TRUE(response.has_value()) << c.method;
    EXPECT_EQ(response->stream, 1u);
    EXPECT_EQ(FieldValue(response->payload, ":status"), c.status);
    EXPECT_TRUE(response->flags & kEndStream);
  }
}

TEST_F(GrpcServerTest, DrainSendsANoticeThenTheFinalGoawayOnceThePingReturns) {
  auto server = StartServer();
  RawClient client(server->port());
  client.Send(std::string(kPreface) + FrameBytes(kSettings, 0, ""));
  ASSERT_TRUE(client.NextOfType(kSettings).has_value());
  const absl::Time start = absl::Now();
  std::thread stop([&] { server->Stop(absl::Seconds(30)); });
  // Step 1: GOAWAY naming the highest stream id, and a PING (in either order).
  std::optional<Frame> notice, ping;
  while (!(notice && ping)) {
    std::optional<Frame> frame = client.Next();
    if (!frame) break;
    if (frame->type == kGoaway) notice = frame;
    if (frame->type == kPing) ping = frame;
  }
  bool closed = false;
  std::optional<Frame> last;
  if (notice && ping) {
    // Step 2: after the ACK, the final GOAWAY (no calls were started) and the close.
    client.Send(FrameBytes(kPing, 0x1, ping->payload));
    last = client.NextOfType(kGoaway);
    closed = client.ClosedByServer();
  }
  stop.join();
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ(BigEndian32(notice->payload, 0), 0x7fffffffu);
  ASSERT_TRUE(ping.has_value());
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(BigEndian32(last->payload, 0), 0u);
  EXPECT_TRUE(closed);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // well before the 30 s drain timeout
}

TEST_F(GrpcServerTest, ADrainThatTimesOutClosesTheConnection) {
  auto server = StartServer();
  RawClient client(server->port());
  client.Send(std::string(kPreface) + FrameBytes(kSettings, 0, ""));
  ASSERT_TRUE(client.NextOfType(kSettings).has_value());
  const absl::Time start = absl::Now();
  server->Stop(absl::Milliseconds(300));  // the client never answers the PING
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(client.ClosedByServer());
}

TEST_F(GrpcServerTest, AConnectionWithNoOpenCallIsClosedAfterTheIdleTimeout) {
  GrpcServerOptions options;
  options.idle_timeout = absl::Milliseconds(300);
  auto server = StartServer(absl::Seconds(20), options);
  RawClient client(server->port());
  client.Send(std::string(kPreface) + FrameBytes(kSettings, 0, ""));
  const absl::Time start = absl::Now();
  auto goaway = client.NextOfType(kGoaway);
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(BigEndian32(goaway->payload, 4), 0u);  // NO_ERROR
  EXPECT_TRUE(client.ClosedByServer());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
}

TEST_F(GrpcServerTest, AtTheConnectionCapTheLongestIdleConnectionMakesRoom) {
  GrpcServerOptions options;
  options.max_connections = 2;
  auto server = StartServer(absl::Seconds(20), options);
  RawClient oldest(server->port()), younger(server->port());
  for (RawClient* client : {&oldest, &younger}) {
    client->Send(std::string(kPreface) + FrameBytes(kSettings, 0, ""));
    ASSERT_TRUE(client->NextOfType(kSettings).has_value());
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(server->open_connections(), 2);
  RawClient newcomer(server->port());
  newcomer.Send(std::string(kPreface) + FrameBytes(kSettings, 0, "") +
                FrameBytes(kPing, 0, "abcdefgh"));
  auto ack = newcomer.NextOfType(kPing);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->payload, "abcdefgh");
  EXPECT_TRUE(oldest.NextOfType(kGoaway).has_value());
  EXPECT_TRUE(oldest.ClosedByServer());
  younger.Send(FrameBytes(kPing, 0, "12345678"));
  EXPECT_TRUE(younger.NextOfType(kPing).has_value());
}

constexpr uint8_t kData = 0x0;

// Request headers for a gRPC call to `path` on `stream`.
std::string CallHeaders(uint32_t stream, const std::string& path, bool end_stream = false) {
  const std::string block = HeaderBlock({{":method", "POST"},
                                         {":scheme", "http"},
                                         {":authority", "x"},
                                         {":path", path},
                                         {"content-type", "application/grpc"},
                                         {"te", "trailers"}});
  return FrameBytes(kHeaders, kEndHeaders | (end_stream ? kEndStream : 0), block, stream);
}

// A DATA frame carrying a gRPC message prefix that announces `declared`
// bytes, followed by `sent` of them.
std::string PartialMessage(uint32_t stream, uint32_t declared, size_t sent,
                           bool end_stream = false) {
  std::string payload(1, '\0');
  for (int shift : {24, 16, 8, 0}) payload.push_back(static_cast<char>(declared >> shift));
  payload.append(sent, 'x');
  return FrameBytes(kData, end_stream ? kEndStream : 0, payload, stream);
}

// The grpc-status of the next response HEADERS that carries one, or "" once
// the connection ends; `stream` gets its stream id.
std::string NextGrpcStatus(RawClient& client, HeaderDecoder& decoder, uint32_t* stream = nullptr) {
  while (auto frame = client.NextOfType(kHeaders)) {
    const std::string status = decoder.Value(frame->payload, "grpc-status");
    if (!status.empty()) {
      if (stream != nullptr) *stream = frame->stream;
      return status;
    }
  }
  return "";
}

TEST_F(GrpcServerTest, AUnaryCallWhoseRequestNeverEndsGetsDeadlineExceeded) {
  GrpcServerOptions options;
  options.request_timeout = absl::Milliseconds(300);
  auto server = StartServer(absl::Seconds(20), options);
  RawClient client(server->port());
  client.Send(std::string(kPreface) + FrameBytes(kSettings, 0, "") +
              CallHeaders(1, "/grpc.health.v1.Health/Check") + PartialMessage(1, 100, 10));
  const absl::Time start = absl::Now();
  HeaderDecoder decoder;
  EXPECT_EQ(NextGrpcStatus(client, decoder), "4");  // DEADLINE_EXCEEDED
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// A client writes its PING ACK ahead of calls it has started but not written
// yet (their HEADERS queued behind megabytes of earlier requests): the drain
// answers such a call, which arrives after the ACK while another is open,
// and its final GOAWAY names it.
TEST_F(GrpcServerTest, ADrainAnswersACallThatArrivesAfterThePingAck) {
  auto server = StartServer();
  RawClient client(server->port());
  // Stream 1: a call whose request is still arriving when the drain begins.
  client.Send(std::string(kPreface) + FrameBytes(kSettings, 0, "") +
              CallHeaders(1, "/grpc.health.v1.Health/Check") + PartialMessage(1, 100, 10));
  ASSERT_TRUE(client.NextOfType(kSettings).has_value());
  std::thread stop([&] { server->Stop(absl::Seconds(5)); });
  std::optional<Frame> ping;
  while (!ping) {
    std::optional<Frame> frame = client.Next();
    if (!frame) break;
    if (frame->type == kPing && !(frame->flags & 0x1)) ping = frame;
  }
  HeaderDecoder decoder;
  std::string late_call_status;
  std::optional<uint32_t> final_last_stream;
  if (ping) {
    client.Send(FrameBytes(kPing, 0x1, ping->payload));
    // Stream 3, whole, after the ACK; then, once it is answered, stream 1 is
    // cancelled and the drain can end.
    client.Send(CallHeaders(3, "/grpc.health.v1.Health/Check") + PartialMessage(3, 0, 0, true));
    while (std::optional<Frame> frame = client.Next()) {
      if (frame->type == kHeaders) {
        const std::string status = decoder.Value(frame->payload, "grpc-status");
        if (frame->stream == 3 && !status.empty()) {
          late_call_status = status;
          const std::string cancel("\0\0\0\x08", 4);  // RST_STREAM, CANCEL
          client.Send(FrameBytes(/*RST_STREAM*/ 0x3, 0, cancel, /*stream=*/1));
        }
      } else if (frame->type == kGoaway && BigEndian32(frame->payload, 0) != 0x7fffffffu) {
        final_last_stream = BigEndian32(frame->payload, 0);
      }
    }
  }
  stop.join();
  ASSERT_TRUE(ping.has_value());
  EXPECT_EQ(late_call_status, "0");
  ASSERT_TRUE(final_last_stream.has_value());
  EXPECT_EQ(*final_last_stream, 3u);
}

TEST_F(GrpcServerTest, UnfinishedRequestsOfAllCallsShareOneBudget) {
  GrpcServerOptions options;
  options.max_message_bytes =
      1000;  // a connection holds at most 2,000 bytes of unfinished requests
  auto server = StartServer(absl::Seconds(20), options);
  RawClient client(server->port());
  client.Send(std::string(kPreface) + FrameBytes(kSettings, 0, ""));
  for (uint32_t stream : {1u, 3u, 5u}) {
    client.Send(CallHeaders(stream, "/grpc.health.v1.Health/Check") +
                PartialMessage(stream, 1000, 800));
  }
  uint32_t refused = 0;
  HeaderDecoder decoder;
  EXPECT_EQ(NextGrpcStatus(client, decoder, &refused), "8");  // RESOURCE_EXHAUSTED
  EXPECT_EQ(refused, 5u);
}

// A peer that shuts its flow-control window and keeps calling: responses are
// refused once the ones it has not taken reach the budget, and the connection
// is dropped when it takes none of them for the write timeout.
TEST_F(GrpcServerTest, APeerThatNeverReadsItsResponsesIsBoundedThenDropped) {
  GrpcServerOptions options;
  options.max_message_bytes = 64;  // 128 bytes of responses pending at most
  options.write_timeout = absl::Milliseconds(300);
  auto server = StartServer(absl::Seconds(20), options);
  RawClient client(server->port());
  const std::string zero_window = std::string("\x00\x04", 2) + std::string("\x00\x00\x00\x00", 4);
  std::string calls = std::string(kPreface) + FrameBytes(kSettings, 0, zero_window);
  for (uint32_t stream = 1; stream < 2 * 60; stream += 2) {
    calls += CallHeaders(stream, "/grpc.health.v1.Health/Check") +
             PartialMessage(stream, 0, 0, /*end_stream=*/true);
  }
  client.Send(calls);
  const absl::Time start = absl::Now();
  HeaderDecoder decoder;
  std::string status;
  while ((status = NextGrpcStatus(client, decoder)) == "0") {
  }
  EXPECT_EQ(status, "8") << "responses beyond the budget are refused";
  EXPECT_TRUE(client.ClosedByServer());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// A response far larger than the socket's buffer goes out partly at once and
// the rest as the client reads: a client that opens its windows wide and
// waits before reading gets every byte, in order, then the status.
TEST(GrpcConnectionTest, AResponseLargerThanTheSocketBufferArrivesWholeToALateReader) {
  constexpr size_t kBytes = size_t{24} << 20;
  GrpcMethodTable methods;
  methods["/t.T/Big"].unary = [](absl::string_view, std::string* response) {
    response->resize(kBytes);
    for (size_t i = 0; i < kBytes; ++i) (*response)[i] = static_cast<char>('a' + i % 23);
    return absl::OkStatus();
  };
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  RawClient client(acceptor.local_endpoint().port());
  std::shared_ptr<GrpcConnection> connection = std::make_shared<GrpcConnection>(
      io, acceptor.accept(), &methods, GrpcConnectionOptions{}, nullptr,
      [&io] { return boost::asio::any_io_executor(io.get_executor()); });
  connection->Start();
  std::thread runner([&io] { io.run(); });
  // Windows as large as HTTP/2 allows, so that only the socket holds the server back.
  const std::string wide_window = std::string("\x00\x04", 2) + std::string("\x7f\xff\xff\xff", 4);
  const std::string connection_increment("\x7f\xfe\xff\xff", 4);  // 2^31 - 1 - 65535
  client.Send(std::string(kPreface) + FrameBytes(kSettings, 0, wide_window) +
              FrameBytes(0x8, 0, connection_increment) + CallHeaders(1, "/t.T/Big") +
              PartialMessage(1, 0, 0, /*end_stream=*/true));
  absl::SleepFor(absl::Milliseconds(300));  // the server fills the socket's buffers meanwhile
  std::string received;
  HeaderDecoder decoder;
  std::string status;
  while (auto frame = client.Next()) {
    if (frame->stream != 1) continue;
    if (frame->type == kData) received += frame->payload;
    if (frame->type == kHeaders) status = decoder.Value(frame->payload, "grpc-status");
    if (!status.empty()) break;
  }
  connection->Close();
  work.reset();
  runner.join();
  EXPECT_EQ(status, "0");
  ASSERT_EQ(received.size(), 5 + kBytes) << "the 5-byte gRPC prefix and the message";
  for (size_t i = 0; i < kBytes; ++i) {
    ASSERT_EQ(received[5 + i], static_cast<char>('a' + i % 23)) << "byte " << i;
  }
}

}  // namespace
}  // namespace servekit
