// Fuzzes the gRPC server's HTTP/2 connection as a whole (server/grpc_server.h,
// grpc_connection.h): nghttp2's frame and HPACK handling as the server
// configures it, the server's callbacks, gRPC request framing and the
// services behind it (over an empty ServerCore, so calls fail after their
// request is read and parsed).
//
// One server runs for the whole process on 127.0.0.1 with one thread. Each
// input is written on a fresh loopback connection after the client preface
// (so the fuzzer spends its effort on frames), the client half-closes and
// reads until the server closes or a short time passes, then waits until the
// server has let go of the connection, so that what an input causes happens
// while that input is the current one.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "google/protobuf/stubs/logging.h"
#include "servekit/server/grpc/grpc_server.h"
#include "servekit/serving/server_core.h"

namespace {

servekit::ServerCore* core = nullptr;
servekit::GrpcServer* server = nullptr;

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// A connection to the server. connect() can fail for the harness's own
// reasons: libFuzzer's timer signal interrupts it (EINTR), or thousands of
// connections a second run out of ports; those are retried on a new socket.
int Connect(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    if (attempt == 999) perror("connect");
    if (fd >= 0) close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  abort();  // the harness is broken, not the server
}

// Closes with a reset rather than a FIN: the client side of thousands of
// connections a second must not sit in TIME_WAIT holding the ephemeral ports.
void CloseWithReset(int fd) {
  linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  close(fd);
}

// Reads (and drops) what the server sends until it closes or `budget` passes.
void DrainUntilClosed(int fd, std::chrono::milliseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  char buffer[16384];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    if (recv(fd, buffer, sizeof(buffer), 0) <= 0) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(
      nullptr);  // invalid UTF-8 in a string field is logged: noise at this rate
  servekit::ServerCoreOptions core_options;
  core_options.num_load_threads = 1;
  core_options.file_system_poll_wait = absl::ZeroDuration();
  core = new servekit::ServerCore(core_options);
  servekit::GrpcServerOptions options;
  options.num_threads = 1;
  options.max_message_bytes = 1 << 20;
  options.max_request_elements = 1 << 16;
  options.handshake_timeout = absl::Milliseconds(100);
  options.idle_timeout = absl::Milliseconds(100);
  // Off: HandleReloadConfigRequest would change the core's models for every
  // later input (and could point them at real directories).
  options.enable_model_management = false;
  servekit::StatusOr<std::unique_ptr<servekit::GrpcServer>> started =
      servekit::GrpcServer::Start(core, options);
  if (!started.ok()) {
    fprintf(stderr, "GrpcServer::Start: %s\n", std::string(started.status().message()).c_str());
    abort();
  }
  server = started->release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = Connect(server->port());
  std::string bytes(kPreface, sizeof(kPreface) - 1);
  bytes.append(reinterpret_cast<const char*>(data), size);
  // The server reads as it answers; a write that fails (it closed first) is fine.
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += n;
  }
  shutdown(fd, SHUT_WR);
  DrainUntilClosed(fd, std::chrono::milliseconds(50));
  CloseWithReset(fd);
  // Until the server has closed its end too (bounded: a stuck connection is
  // closed by the idle timeout, and this wait does not hide one forever).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (server->open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return 0;
}
