// IntraOpPool: splits one kernel's work across threads.
//
// With one thread (the default: one request per core serves concurrency best on
// few cores) ParallelFor runs inline with no synchronisation. With more, the
// chunks run on an OpenMP team, the threads oneDNN's calls run on
// (util/openmp_team.h says why), or on an Eigen thread pool in builds without
// OpenMP. Thread-safe: several sessions' requests may call ParallelFor at once;
// each call waits for its own chunks.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/functional/function_ref.h"

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
  // A FunctionRef, not a std::function: a kernel's lambda (which captures more
  // than std::function holds inline) costs no allocation per call.
  void ParallelFor(int64_t n, int64_t min_chunk,
                   absl::FunctionRef<void(int64_t begin, int64_t end)> fn) const;

 private:
  int num_threads_;
  // Without OpenMP teams: started on first use.
  mutable std::once_flag eigen_pool_started_;
  mutable std::unique_ptr<Eigen::ThreadPoolInterface> eigen_pool_;
};

}  // namespace servekit
