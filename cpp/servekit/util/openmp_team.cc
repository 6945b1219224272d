#include "servekit/util/openmp_team.h"

#ifdef SERVEKIT_WITH_OPENMP
#include <pthread.h>

#include <atomic>

// libgomp's entry points, declared here rather than through <omp.h> (clang
// builds of servekit have no OpenMP headers). GOMP_parallel is what GCC emits
// for `#pragma omp parallel num_threads(n)`: part of libgomp's stable ABI.
extern "C" {
void omp_set_num_threads(int num_threads);
int omp_get_thread_num(void);
void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags);
}

namespace servekit {
namespace {

std::atomic<bool> teams_started{false};
std::atomic<bool> forked_after_teams{false};

void MarkForkedChild() {
  if (teams_started.load()) forked_after_teams.store(true);
}

void WatchForks() {
  if (!teams_started.exchange(true)) {
    // Registered once, before the first team exists.
    static const int registered = pthread_atfork(nullptr, nullptr, MarkForkedChild);
    (void)registered;
  }
}

void RunMember(void* data) {
  (*static_cast<const absl::FunctionRef<void(int)>*>(data))(omp_get_thread_num());
}

}  // namespace

bool OpenMpTeamsAvailable() { return !forked_after_teams.load(); }

void SetOpenMpThreads(int threads) {
  if (threads > 1) WatchForks();
  omp_set_num_threads(threads);
}

void RunOnOpenMpTeam(int threads, absl::FunctionRef<void(int)> fn) {
  WatchForks();
  GOMP_parallel(RunMember, &fn, static_cast<unsigned>(threads), 0);
}

}  // namespace servekit

#else  // !SERVEKIT_WITH_OPENMP

namespace servekit {

bool OpenMpTeamsAvailable() { return false; }
void SetOpenMpThreads(int) {}
void RunOnOpenMpTeam(int, absl::FunctionRef<void(int)> fn) { fn(0); }

}  // namespace servekit

#endif
