#include "servekit/util/thread_pool.h"

#include <algorithm>
#include <mutex>

#include "servekit/util/openmp_team.h"

#define EIGEN_USE_THREADS
#include <unsupported/Eigen/CXX11/ThreadPool>

namespace servekit {

IntraOpPool::IntraOpPool(int num_threads) : num_threads_(std::max(1, num_threads)) {}

IntraOpPool::~IntraOpPool() = default;

void IntraOpPool::ParallelFor(int64_t n, int64_t min_chunk,
                              absl::FunctionRef<void(int64_t, int64_t)> fn) const {
  if (n <= 0) return;
  int64_t chunks = std::min<int64_t>(
      num_threads_, (n + std::max<int64_t>(min_chunk, 1) - 1) / std::max<int64_t>(min_chunk, 1));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  const int64_t step = (n + chunks - 1) / chunks;
  if (OpenMpTeamsAvailable()) {
    RunOnOpenMpTeam(static_cast<int>(chunks), [&](int c) {
      const int64_t begin = c * step, end = std::min(n, begin + step);
      if (begin < end) fn(begin, end);
    });
    return;
  }
  // Without OpenMP (or in a child forked after OpenMP started): Eigen's pool,
  // started on first use, so that a child forked before then gets live threads.
  // The calling thread runs one chunk itself, so the pool needs one thread fewer.
  std::call_once(eigen_pool_started_,
                 [this] { eigen_pool_ = std::make_unique<Eigen::ThreadPool>(num_threads_ - 1); });
  Eigen::Barrier barrier(static_cast<unsigned>(chunks - 1));
  for (int64_t c = 1; c < chunks; ++c) {
    const int64_t begin = c * step;
    const int64_t end = std::min(n, begin + step);
    eigen_pool_->Schedule([&fn, &barrier, begin, end] {
      if (begin < end) fn(begin, end);
      barrier.Notify();
    });
  }
  fn(0, std::min(n, step));
  barrier.Wait();
}

}  // namespace servekit
