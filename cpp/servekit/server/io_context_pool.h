// IoContextPool: the threads that run a server's connections. Each thread runs
// an io_context of its own, and each connection lives on one context for its
// whole life: a request is read, run and answered on the thread whose epoll
// saw it, with no hand-off between threads and no lock shared by all
// connections (REST predict at 16 connections went from 27.0k to 36.0k req/s
// and the GET floor from 58k to 113k when the HTTP server moved from one
// io_context run by every thread to this; bench/rest_bench.py).
//
// A handler that throws past its connection (out of memory, a bug) loses that
// one piece of work; its thread goes on serving and the process is never
// terminated. Next() is thread-safe; Start and Stop are called once each, by
// the owner (Stop is idempotent and joins the threads).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace servekit {

// One per core, at least two (so that one slow request never holds up every
// connection): the REST and gRPC server threads when none are asked for. More
// threads than cores measured slower on 2 cores (bench/rest_bench.py: 16.5k vs
// 13.7k predicts/s at 16 connections).
int DefaultServerThreads();

class IoContextPool {
 public:
  explicit IoContextPool(int threads);
  ~IoContextPool();  // Stop()
  IoContextPool(const IoContextPool&) = delete;
  IoContextPool& operator=(const IoContextPool&) = delete;

  // The context a new connection (or a listening socket) goes on: each in turn.
  boost::asio::io_context& Next();
  boost::asio::io_context& first() { return *contexts_[0]; }

  void Start();
  // Stops every context (pending handlers are destroyed with the pool) and joins.
  void Stop();

 private:
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  // Keeps each thread running while its context has nothing to do.
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      keep_running_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace servekit
