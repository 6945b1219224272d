// IntraOpPool: splits one kernel's work across threads.
//
// With one thread (the default: one request per core serves concurrency best on
// few cores) ParallelFor runs inline with no synchronisation. Thread-safe: several
// sessions' requests may call ParallelFor at once; each call waits for its own chunks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace Eigen {
class ThreadPoolInterface;
}

namespace servekit {

class IntraOpPool {
 public:
  explicit IntraOpPool(int num_threads);
  ~IntraOpPool();
  IntraOpPool(const IntraOpPool&) = delete;
  IntraOpPool& operator=(const IntraOpPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n); returns when all are done.
  // `min_chunk` keeps chunks large enough to be worth a thread hand-off.
  void ParallelFor(int64_t n, int64_t min_chunk,
                   const std::function<void(int64_t begin, int64_t end)>& fn) const;

 private:
  int num_threads_;
  std::unique_ptr<Eigen::ThreadPoolInterface> pool_;  // null with one thread
};

}  // namespace servekit
