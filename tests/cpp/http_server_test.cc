#include "servekit/server/http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "loopback_socket.h"

namespace servekit {
namespace {

// A blocking loopback client: sends bytes, reads until the server closes (or a timeout).
class Client {
 public:
  explicit Client(int port) { fd_ = test::ConnectLoopback(port, &connected_); }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(absl::string_view data) {
    ASSERT_EQ(send(fd_, data.data(), data.size(), MSG_NOSIGNAL), (ssize_t)data.size());
  }
  std::string ReadAll() {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = recv(fd_, buffer, sizeof(buffer), 0)) > 0) out.append(buffer, n);
    return out;
  }
  // Reads until `count` responses' worth of `marker` have arrived.
  std::string ReadUntil(absl::string_view marker, int count) {
    std::string out;
    char buffer[4096];
    while (CountOf(out, marker) < count) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      out.append(buffer, n);
    }
    return out;
  }
  static int CountOf(absl::string_view text, absl::string_view marker) {
    int count = 0;
    for (size_t at = text.find(marker); at != absl::string_view::npos;
         at = text.find(marker, at + 1))
      ++count;
    return count;
  }

 private:
  int fd_;
  bool connected_ = false;
};

HttpServerOptions Options() {
  HttpServerOptions o;
  o.timeout = absl::Milliseconds(500);
  o.idle_timeout = absl::Milliseconds(500);
  o.max_body_bytes = 1024;
  return o;
}

// Echoes "<method> <target> <body>".
void Echo(const HttpRequest& request, HttpResponse* response) {
  response->content_type = "text/plain";
  response->body = absl::StrCat(request.method, " ", request.target, " ", request.body);
}

constexpr char kGetClose[] = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
constexpr char kGetKeepAlive[] = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";

TEST(HttpServerTest, AnswersRequestsInOrderOnAKeepAliveConnection) {
  auto server = HttpServer::Start(Options(), Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  Client client((*server)->port());
  ASSERT_TRUE(client.connected());
  client.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  client.Send("GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  client.Send("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string all = client.ReadAll();
  EXPECT_EQ(Client::CountOf(all, "HTTP/1.1 200 OK"), 3) << all;
  const size_t a = all.find("POST /a abc"), b = all.find("GET /b?q=1 "), c = all.find("GET /c ");
  EXPECT_TRUE(a < b && b < c && c != std::string::npos) << all;
  EXPECT_TRUE(absl::StrContains(all, "Server: servekit")) << all;
}

// Requests that arrive together are parsed from the buffer one after another
// (no read between them) and answered in order; a pipeline that fills many
// reads is answered whole.
TEST(HttpServerTest, ALongPipelineSentAtOnceIsAnsweredInOrder) {
  auto server = HttpServer::Start(Options(), Echo);
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->port());
  ASSERT_TRUE(client.connected());
  constexpr int kRequests = 3000;  // ~100 KB: several of the session's 16 KB reads
  std::string pipeline;
  for (int i = 0; i < kRequests; ++i) {
    absl::StrAppend(&pipeline, "GET /", i, " HTTP/1.1\r\nHost: x\r\n",
                    i + 1 == kRequests ? "Connection: close\r\n" : "", "\r\n");
  }
  std::thread sender([&] { client.Send(pipeline); });
  const std::string all = client.ReadAll();
  sender.join();
  EXPECT_EQ(Client::CountOf(all, "HTTP/1.1 200 OK"), kRequests);
  size_t at = 0;
  for (int i = 0; i < kRequests; ++i) {
    at = all.find(absl::StrCat("GET /", i, " "), at);
    ASSERT_NE(at, std::string::npos) << "answer " << i << " is missing or out of order";
  }
}

// An answer larger than the socket's send buffer is written in part at once
// and the rest as the client reads: a client that waits before reading gets
// every byte, in order.
TEST(HttpServerTest, AnAnswerLargerThanTheSocketBufferArrivesWholeToALateReader) {
  constexpr size_t kBytes = size_t{24} << 20;
  HttpServerOptions options = Options();
  options.timeout = absl::Seconds(10);
  auto server = HttpServer::Start(options, [](const HttpRequest&, HttpResponse* response) {
    response->content_type = "text/plain";
    response->body.resize(kBytes);
    for (size_t i = 0; i < kBytes; ++i) response->body[i] = static_cast<char>('a' + i % 23);
  });
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->port());
  client.Send(kGetClose);
  absl::SleepFor(absl::Milliseconds(300));  // the server's first write fills the buffers
  const std::string all = client.ReadAll();
  const size_t body = all.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  ASSERT_EQ(all.size() - body - 4, kBytes);
  for (size_t i = 0; i < kBytes; ++i) {
    ASSERT_EQ(all[body + 4 + i], static_cast<char>('a' + i % 23)) << "byte " << i;
  }
}

// A client that reads none of its answer is disconnected once the timeout
// has passed, and the server goes on serving others meanwhile.
TEST(HttpServerTest, AClientThatReadsNothingOfItsAnswerIsDisconnectedAfterTheTimeout) {
  auto server =
      HttpServer::Start(Options(), [](const HttpRequest& request, HttpResponse* response) {
        response->content_type = "text/plain";
        response->body = request.target == "/big" ? std::string(size_t{64} << 20, 'x') : "small";
      });
  ASSERT_TRUE(server.ok()) << server.status();
  Client stuck((*server)->port());
  stuck.Send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  absl::SleepFor(absl::Milliseconds(100));
  {
    Client other((*server)->port());
    other.Send(kGetClose);
    EXPECT_TRUE(absl::StrContains(other.ReadAll(), "small"));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while ((*server)->open_connections() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ((*server)->open_connections(), 0) << "the stuck client's connection is still open";
  EXPECT_LT(stuck.ReadAll().size(), size_t{64} << 20);
}

// A connection reuses its request's header memory (RequestArena) and its body
// and answer buffers from one request to the next: a request whose fields
// overflow the arena, then a small one, then a large one again must each be
// read and answered whole, with nothing left over from the one before.
TEST(HttpServerTest, ReusedRequestMemoryLeavesNothingOfTheLastRequestBehind) {
  HttpServerOptions options = Options();
  options.max_body_bytes = 64 << 10;
  // Appends (rather than assigns) to the answer: a buffer handed on unemptied would show.
  auto server = HttpServer::Start(options, [](const HttpRequest& request, HttpResponse* response) {
    int fields = 0;
    size_t value_bytes = 0;
    std::string last;
    request.extras->ForEachHeader([&](absl::string_view, absl::string_view value) {
      ++fields;
      value_bytes += value.size();
      last = std::string(value);
    });
    response->content_type = "text/plain";
    absl::StrAppend(&response->body, "[", fields, " ", value_bytes, " ", last, "|", request.body,
                    "]");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->port());
  ASSERT_TRUE(client.connected());
  // 40 fields of 150 bytes: 6 KB, past the arena's 4 KB block.
  std::string many_fields;
  for (int i = 0; i < 40; ++i) {
    absl::StrAppend(&many_fields, "X-Field-", i, ": ", std::string(139, 'a' + i % 26), "\r\n");
  }
  const std::string big_body(9000, 'b');
  const auto request = [](absl::string_view fields, absl::string_view body, bool close) {
    return absl::StrCat("POST /p HTTP/1.1\r\nHost: h\r\n", fields, "Content-Length: ", body.size(),
                        "\r\n", close ? "Connection: close\r\n" : "", "\r\n", body);
  };
  client.Send(request(many_fields, big_body, false));
  client.Send(request("", "ab", false));
  client.Send(request(many_fields, "cd", true));
  const std::string all = client.ReadAll();
  EXPECT_EQ(Client::CountOf(all, "HTTP/1.1 200 OK"), 3) << all.substr(0, 300);
  // Host, 40 fields, Content-Length; their values' bytes: 1 + 40 * 139 + 4.
  EXPECT_TRUE(absl::StrContains(all, absl::StrCat("[42 5565 9000|", big_body, "]")));
  EXPECT_TRUE(absl::StrContains(all, "Content-Length: 10\r\n\r\n[2 2 2|ab]"))
      << all.substr(all.size() > 400 ? all.size() - 400 : 0);
  // Host, 40 fields, Content-Length, Connection.
  EXPECT_TRUE(absl::StrContains(all, "[43 5567 close|cd]"))
      << all.substr(all.size() > 400 ? all.size() - 400 : 0);
}

TEST(HttpServerTest, OversizedBodiesAre413AndMalformedRequests400) {
  auto server = HttpServer::Start(Options(), Echo);
  ASSERT_TRUE(server.ok());
  {
    Client client((*server)->port());
    client.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    const std::string reply = client.ReadAll();
    EXPECT_TRUE(absl::StartsWith(reply, "HTTP/1.1 413")) << reply;
    EXPECT_TRUE(absl::StrContains(
        reply, "{\"error\":\"request body is larger than the limit of 1024 bytes\"}"));
  }
  {
    Client client((*server)->port());
    client.Send("GARBAGE\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(client.ReadAll(), "HTTP/1.1 400"));
  }
  {
    Client client((*server)->port());
    client.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(client.ReadAll(), "HTTP/1.1 400"));
  }
}

TEST(HttpServerTest, AStalledRequestGets408AndAnIdleConnectionIsClosed) {
  auto server = HttpServer::Start(Options(), Echo);
  ASSERT_TRUE(server.ok());
  Client stalled((*server)->port());
  stalled.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  const absl::Time started = absl::Now();
  EXPECT_TRUE(absl::StartsWith(stalled.ReadAll(), "HTTP/1.1 408"));
  EXPECT_LT(absl::Now() - started, absl::Seconds(5));
  Client idle((*server)->port());
  EXPECT_EQ(idle.ReadAll(), "");  // closed without a word after the timeout
}

TEST(HttpServerTest, AThrowingHandlerIs500AndTheServerKeepsServing) {
  auto server =
      HttpServer::Start(Options(), [](const HttpRequest& request, HttpResponse* response) {
        if (request.target == "/throw") throw std::runtime_error("boom");
        response->body = "fine";
      });
  ASSERT_TRUE(server.ok());
  Client client((*server)->port());
  client.Send(
      "GET /throw HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\n\r\n");
  const std::string all = client.ReadAll();
  EXPECT_TRUE(absl::StartsWith(all, "HTTP/1.1 500")) << all;
  EXPECT_TRUE(absl::StrContains(all, "internal error: boom")) << all;
  EXPECT_TRUE(absl::StrContains(all, "HTTP/1.1 200 OK")) << all;
}

TEST(HttpServerTest, StopDrainsRequestsInFlightAndClosesIdleConnections) {
  absl::Notification entered, release;
  auto server =
      HttpServer::Start(Options(), [&](const HttpRequest& request, HttpResponse* response) {
        if (request.target == "/slow") {
          entered.Notify();
          release.WaitForNotification();
        }
        response->body = "done";
      });
  ASSERT_TRUE(server.ok());
  const int port = (*server)->port();
  Client busy(port), idle(port);
  busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  entered.WaitForNotification();
  EXPECT_EQ((*server)->requests_in_flight(), 1);
  std::atomic<bool> drained{false};
  std::thread stopper([&] { drained = (*server)->Stop(absl::Seconds(10)); });
  absl::SleepFor(absl::Milliseconds(100));
  // While the slow request still runs (whichever server thread it holds):
  // the idle connection is closed at once, by the server (the client's reads
  // would give up only after 10 s), and no new connection is taken.
  const absl::Time asked = absl::Now();
  EXPECT_EQ(idle.ReadAll(), "");
  Client late(port);
  EXPECT_FALSE(late.connected() && !late.ReadAll().empty())
      << "a new connection must not be served";
  EXPECT_LT(absl::Now() - asked, absl::Seconds(2))
      << "the drain waited for the request in flight before closing and refusing";
  release.Notify();
  const std::string reply = busy.ReadAll();
  stopper.join();
  EXPECT_TRUE(absl::StartsWith(reply, "HTTP/1.1 200 OK")) << reply;
  EXPECT_TRUE(absl::StrContains(reply, "Connection: close")) << reply;
  EXPECT_TRUE(drained);
}

TEST(HttpServerTest, BadAddressesAndBusyPortsAreClearErrors) {
  HttpServerOptions bad = Options();
  bad.address = "not-an-ip";
  EXPECT_EQ(HttpServer::Start(bad, Echo).status().code(), absl::StatusCode::kInvalidArgument);
  auto first = HttpServer::Start(Options(), Echo);
  ASSERT_TRUE(first.ok());
  HttpServerOptions same = Options();
  same.port = (*first)->port();
  const Status busy = HttpServer::Start(same, Echo).status();
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(busy.message(), "cannot bind")) << busy;
}

TEST(HttpServerTest, IdleConnectionsCloseAfterTheIdleTimeoutWhileRequestsHaveTheirOwn) {
  HttpServerOptions options = Options();
  options.idle_timeout = absl::Milliseconds(300);
  options.timeout = absl::Seconds(5);
  auto server = HttpServer::Start(options, Echo);
  ASSERT_TRUE(server.ok());
  const absl::Time start = absl::Now();
  Client silent((*server)->port());
  EXPECT_EQ(silent.ReadAll(), "");
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));  // the idle timeout, not the request timeout
  // A request that has begun may take longer than the idle timeout.
  Client slow((*server)->port());
  slow.Send("GET /slow HTTP/1.1\r\n");
  absl::SleepFor(absl::Milliseconds(600));
  slow.Send("Host: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(slow.ReadAll(), "HTTP/1.1 200 OK"));
}

TEST(HttpServerTest, AtTheConnectionCapTheLongestIdleConnectionMakesRoom) {
  HttpServerOptions options = Options();
  options.idle_timeout = absl::Seconds(30);
  options.max_connections = 3;
  auto server = HttpServer::Start(options, Echo);
  ASSERT_TRUE(server.ok());
  const int port = (*server)->port();
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<Client>(port));
    idle.back()->Send(kGetKeepAlive);
    EXPECT_EQ(Client::CountOf(idle.back()->ReadUntil("HTTP/1.1 200", 1), "HTTP/1.1 200"), 1);
    absl::SleepFor(absl::Milliseconds(20));  // a clear order of idleness
  }
  EXPECT_EQ((*server)->open_connections(), 3);
  Client newcomer(port);
  newcomer.Send(kGetClose);
  EXPECT_TRUE(absl::StartsWith(newcomer.ReadAll(), "HTTP/1.1 200 OK"));
  EXPECT_EQ(idle[0]->ReadAll(), "");  // the oldest was closed to let it in
  for (int i = 1; i < 3; ++i) {
    idle[i]->Send(kGetClose);
    EXPECT_TRUE(absl::StartsWith(idle[i]->ReadAll(), "HTTP/1.1 200 OK")) << i;
  }
}

int OpenDescriptors() {
  return static_cast<int>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                        std::filesystem::directory_iterator{}));
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// Out of descriptors, accept fails with EMFILE while clients wait in the
// backlog: the loop must wait rather than retry at once (which burned a whole
// core per server thread), and serve them once descriptors are free again.
TEST(HttpServerTest, AcceptErrorsBackOffInsteadOfSpinning) {
  HttpServerOptions options = Options();
  options.idle_timeout = absl::Seconds(30);
  auto server = HttpServer::Start(options, Echo);
  ASSERT_TRUE(server.ok());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // Client sockets are made first; connecting them needs no new descriptor.
  std::vector<int> sockets;
  for (int i = 0; i < 4; ++i) sockets.push_back(socket(AF_INET, SOCK_STREAM, 0));
  rlimit full = saved;
  full.rlim_cur =
      OpenDescriptors() - 1;  // not one descriptor left for accept (less the count's own)
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &full), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((*server)->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : sockets)
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const double cpu_before = ProcessCpuSeconds();
  absl::SleepFor(absl::Milliseconds(500));
  const double cpu_used = ProcessCpuSeconds() - cpu_before;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_LT(cpu_used, 0.25) << "the accept loop spins on EMFILE";
  for (int fd : sockets) {
    timeval timeout{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ASSERT_EQ(send(fd, kGetClose, sizeof(kGetClose) - 1, MSG_NOSIGNAL),
              static_cast<ssize_t>(sizeof(kGetClose) - 1));
    char reply[64] = {};
    EXPECT_GT(recv(fd, reply, sizeof(reply) - 1, 0), 0);
    EXPECT_TRUE(absl::StartsWith(reply, "HTTP/1.1 200 OK")) << reply;
    close(fd);
  }
}

}  // namespace
}  // namespace servekit

namespace servekit {
namespace {

// A loopback TCP socket bound to a free port; listening unless asked not to.
int BoundSocket(bool listening, int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  if (listening) {
    EXPECT_EQ(listen(fd, 16), 0);
  }
  return fd;
}

TEST(HttpServerTest, ServesOnAListeningSocketItIsGivenAndLeavesItOpen) {
  int port = 0;
  const int fd = BoundSocket(/*listening=*/true, &port);
  HttpServerOptions options = Options();
  options.listen_fd = fd;
  // The handler sees every header and the peer; its extra headers go out as
  // given, repeated ones too, except those that are the server's to write.
  auto server = HttpServer::Start(options, [](const HttpRequest& request, HttpResponse* response) {
    std::string seen;
    request.extras->ForEachHeader([&](absl::string_view name, absl::string_view value) {
      absl::StrAppend(&seen, name, "=", value, ";");
    });
    response->content_type = "";
    response->body = absl::StrCat(seen, " from ", request.extras->RemoteAddress());
    response->headers = {{"Set-Cookie", "a=1"},      {"Set-Cookie", "b=2"},
                         {"Content-Type", "text/x"}, {"Content-Length", "999"},
                         {"Connection", "upgrade"},  {"X-Answer", "yes"}};
  });
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->port(), port);
  Client client(port);
  ASSERT_TRUE(client.connected());
  client.Send(
      "GET /x HTTP/1.1\r\nHost: h\r\nX-Test: one\r\nX-Test: two\r\nConnection: close\r\n\r\n");
  const std::string answer = client.ReadAll();
  EXPECT_TRUE(
      absl::StrContains(answer, "Host=h;X-Test=one;X-Test=two;Connection=close; from 127.0.0.1"))
      << answer;
  EXPECT_TRUE(absl::StrContains(answer, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n")) << answer;
  EXPECT_TRUE(absl::StrContains(answer, "Content-Type: text/x\r\n")) << answer;
  EXPECT_TRUE(absl::StrContains(answer, "X-Answer: yes\r\n")) << answer;
  EXPECT_FALSE(absl::StrContains(answer, "999")) << answer;
  EXPECT_FALSE(absl::StrContains(answer, "upgrade")) << answer;
  EXPECT_EQ(Client::CountOf(answer, "Content-Type"), 1) << answer;
  (*server)->Stop(absl::Seconds(1));
  // The given socket is still open and listening: a client still connects.
  Client after(port);
  EXPECT_TRUE(after.connected());
  close(fd);
}

TEST(HttpServerTest, BodilessAnswersKeepTheirLengthAndTheConnectionStaysInStep) {
  // HEAD's answer says the length a GET would have had and sends no body; a
  // 204 has no Content-Length at all. The next request on the same
  // connection is read and answered, so nothing stray was written.
  auto server =
      HttpServer::Start(Options(), [](const HttpRequest& request, HttpResponse* response) {
        response->content_type = "text/plain";
        response->body = "this body is not sent";
        response->bodiless = request.method == "HEAD" || request.target == "/empty";
        response->status = request.target == "/empty" ? 204 : 200;
        response->headers = {{"Content-Length", "42"}};
      });
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->port());
  ASSERT_TRUE(client.connected());
  client.Send("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n");
  client.Send("GET /empty HTTP/1.1\r\nHost: x\r\n\r\n");
  client.Send("GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string all = client.ReadAll();
  const size_t head = all.find("HTTP/1.1 200 OK"), empty = all.find("HTTP/1.1 204"),
               get = all.find("HTTP/1.1 200 OK", head + 1);
  ASSERT_TRUE(head < empty && empty < get && get != std::string::npos) << all;
  EXPECT_TRUE(absl::StrContains(all.substr(head, empty - head), "Content-Length: 42\r\n")) << all;
  EXPECT_FALSE(absl::StrContains(all.substr(empty, get - empty), "Content-Length")) << all;
  EXPECT_EQ(Client::CountOf(all, "this body is not sent"), 1) << all;  // the GET's only
  EXPECT_TRUE(absl::StrContains(all.substr(get), "Content-Length: 21\r\n")) << all;
}

TEST(HttpServerTest, AnAnswerThatIsNotValidHttpBecomesA500) {
  // A status outside 100-599, a header that would split the response, a
  // name that is not a token, a body on a 1xx, 204 or 304: a 500 goes out
  // instead, and the server serves on.
  auto server =
      HttpServer::Start(Options(), [](const HttpRequest& request, HttpResponse* response) {
        if (request.target == "/status") response->status = 1000;
        if (request.target == "/split") response->headers = {{"X-A", "1\r\nSet-Cookie: evil=1"}};
        if (request.target == "/name") response->headers = {{"Bad Name", "1"}};
        if (request.target == "/huge") response->headers = {{"X-Big", std::string(100 << 10, 'a')}};
        // Statuses whose answers carry no body, given one.
        if (request.target == "/204") response->status = 204;
        if (request.target == "/304") response->status = 304;
        if (request.target == "/1xx") response->status = 103;
        response->body = "fine";
      });
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* target : {"/status", "/split", "/name", "/huge", "/204", "/304", "/1xx"}) {
    Client client((*server)->port());
    ASSERT_TRUE(client.connected());
    client.Send(absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    const std::string answer = client.ReadAll();
    EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 500")) << target << ": " << answer;
    EXPECT_TRUE(absl::StrContains(answer, "not valid HTTP")) << answer;
    EXPECT_FALSE(absl::StrContains(answer, "evil")) << answer;
  }
  Client client((*server)->port());
  client.Send("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(client.ReadAll(), "HTTP/1.1 200 OK"));
}

TEST(HttpServerTest, AGivenSocketMustBeAListeningTcpSocket) {
  int port = 0;
  const int bound = BoundSocket(/*listening=*/false, &port);
  const int udp = socket(AF_INET, SOCK_DGRAM, 0);
  const int unix_socket = socket(AF_UNIX, SOCK_STREAM, 0);
  for (const auto& [fd, why] :
       std::vector<std::pair<int, std::string>>{{bound, "not listening"},
                                                {udp, "not a TCP socket"},
                                                {unix_socket, "not a TCP socket"},
                                                {1 << 20, "not a socket"}}) {
    HttpServerOptions options = Options();
    options.listen_fd = fd;
    auto server = HttpServer::Start(options, Echo);
    ASSERT_FALSE(server.ok()) << why;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(server.status().message(), why)) << server.status();
  }
  close(bound);
  close(udp);
  close(unix_socket);
}

}  // namespace
}  // namespace servekit
