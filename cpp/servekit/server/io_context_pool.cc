#include "servekit/server/io_context_pool.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>

namespace servekit {

int DefaultServerThreads() {
  return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

IoContextPool::IoContextPool(int threads) {
  for (int i = 0; i < std::max(threads, 1); ++i) {
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));  // one thread runs it
    // Asio makes a context's epoll, eventfd and timerfd with its first I/O
    // object; made now, a server out of descriptors can still take the
    // connections it manages to accept, on any context.
    boost::asio::steady_timer make_reactor(*contexts_.back());
  }
}

IoContextPool::~IoContextPool() { Stop(); }

boost::asio::io_context& IoContextPool::Next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoContextPool::Start() {
  for (const auto& context : contexts_) {
    keep_running_.push_back(boost::asio::make_work_guard(*context));
    boost::asio::io_context* io = context.get();
    threads_.emplace_back([io] {
      while (true) {
        try {
          io->run();
          return;
        } catch (...) {
          // Keep serving: the handler's own connection has lost its work.
        }
      }
    });
  }
}

void IoContextPool::Stop() {
  keep_running_.clear();
  for (const auto& context : contexts_) context->stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace servekit
