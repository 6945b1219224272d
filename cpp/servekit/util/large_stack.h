// RunOnLargeStack: runs a function on a new thread with a stack of the given
// size and waits for it.
//
// For recursive walks over untrusted graphs (formats/savedmodel's function
// inliner) whose depth is bounded by a limit, not by the caller's stack: a
// load thread or Python's main thread may have as little as 8 MiB, and a
// sanitizer build's frames are several times larger. The stack is reserved
// address space; only the pages the walk touches are backed by memory.
#pragma once

#include <cstddef>
#include <functional>

#include "servekit/util/status.h"

namespace servekit {

// Runs `fn` on a thread with `stack_bytes` of stack; returns once it has
// finished. Internal error if the thread cannot be created.
Status RunOnLargeStack(size_t stack_bytes, const std::function<void()>& fn);

}  // namespace servekit
