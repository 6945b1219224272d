// A blocking TCP socket connected to 127.0.0.1:port, for tests that speak
// raw bytes to a server. Reads time out after `recv_timeout_seconds`.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace servekit::test {

// The socket's descriptor; `*connected` tells whether connect succeeded.
inline int ConnectLoopback(int port, bool* connected, int recv_timeout_seconds = 10) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  *connected = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  timeval timeout{recv_timeout_seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

}  // namespace servekit::test
