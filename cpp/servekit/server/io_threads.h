// The threads that run a server's io_context (connections, handlers).
#pragma once

#include <boost/asio/io_context.hpp>
#include <thread>
#include <vector>

namespace servekit {

// Starts `count` threads that run `io` until it is stopped. A handler that
// throws past its connection (out of memory, a bug) loses that one piece of
// work; the thread goes on serving, and the process is never terminated.
std::vector<std::thread> StartIoThreads(boost::asio::io_context& io, int count);

}  // namespace servekit
