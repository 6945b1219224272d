#include "servekit/server/open_file_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <climits>
#include <mutex>

namespace servekit {
namespace {

// Descriptors kept for everything that is not a client connection: model
// files (an ONNX model with external data opens several), config files,
// the listening sockets, the standard streams, Python's own.
constexpr int kReservedDescriptors = 256;
constexpr int kMaxDefaultConnections = 10000;

int Clamp(rlim_t limit) {
  return limit == RLIM_INFINITY || limit > INT_MAX ? INT_MAX : static_cast<int>(limit);
}

}  // namespace

int RaiseOpenFileLimit() {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return Clamp(limit.rlim_cur);
}

int DefaultMaxConnections(int open_file_limit, int ports) {
  const int available = std::max(open_file_limit - kReservedDescriptors, 2 * std::max(ports, 1));
  return std::min(available / std::max(ports, 1), kMaxDefaultConnections);
}

}  // namespace servekit
