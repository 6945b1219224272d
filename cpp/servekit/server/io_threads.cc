#include "servekit/server/io_threads.h"

#include <exception>

namespace servekit {

std::vector<std::thread> StartIoThreads(boost::asio::io_context& io, int count) {
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&io] {
      while (true) {
        try {
          io.run();
          return;
        } catch (...) {
          // Keep serving: the handler's own connection has lost its work.
        }
      }
    });
  }
  return threads;
}

}  // namespace servekit
