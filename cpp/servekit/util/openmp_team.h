// servekit's use of GNU OpenMP (libgomp), the threading runtime that Debian's
// oneDNN runs its primitives on. Built in when SERVEKIT_WITH_OPENMP is defined
// (CMake defines it with oneDNN); otherwise every function reports OpenMP as
// unavailable.
//
// Why IntraOpPool runs its loops on OpenMP teams too: after a oneDNN call its
// OpenMP threads spin for a while, holding the other cores; a second pool's
// threads then wait for a core before they can start. Measured on the 2-core
// VM: the Keras CNN's first MaxPool at batch 64 took 270 µs on servekit's Eigen
// pool of 2 (no faster than 1 thread) and 165 µs on an OpenMP team of 2.
//
// Fork: GNU OpenMP's threads do not survive fork(), and a child that asks for
// a team again hangs. Once a team has started, a child forked afterwards gets
// OpenMpTeamsAvailable() == false and must run single-threaded or elsewhere.
#pragma once

#include "absl/functional/function_ref.h"

namespace servekit {

// Whether OpenMP teams may be used: built with OpenMP and not in a child
// forked after a team started.
bool OpenMpTeamsAvailable();

// Sets the calling thread's OpenMP thread count (omp_set_num_threads), which
// oneDNN reads when it builds and runs a primitive. Registers the fork
// watch before the first team of more than one thread.
void SetOpenMpThreads(int threads);

// Calls fn(t) for t in [0, threads), on an OpenMP team of `threads` with the
// calling thread as t = 0; returns when all are done. Requires
// OpenMpTeamsAvailable().
void RunOnOpenMpTeam(int threads, absl::FunctionRef<void(int)> fn);

}  // namespace servekit
