// WriteWhatFits: writes as much of `buffers` as the socket's send buffer takes
// now, without waiting, and returns how many bytes that was (0 when the buffer
// is full). Both transports write an answer this way first and hand only the
// rest to async_write: async_write's completion goes through the scheduler (a
// queued handler and an epoll_wait system call) even when the socket took
// everything at once, as it nearly always does. `error` is set for a real
// failure only (the peer gone), never for a full buffer. Puts the socket in
// non-blocking mode, which asio's asynchronous operations work with as well.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>

namespace servekit {

template <typename ConstBufferSequence>
size_t WriteWhatFits(boost::asio::ip::tcp::socket& socket, const ConstBufferSequence& buffers,
                     boost::system::error_code& error) {
  error = {};
  if (!socket.non_blocking()) socket.non_blocking(true, error);
  if (error) return 0;
  const size_t written = socket.write_some(buffers, error);
  if (error == boost::asio::error::would_block || error == boost::asio::error::try_again) {
    error = {};
    return 0;
  }
  return error ? 0 : written;
}

}  // namespace servekit
