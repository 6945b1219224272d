#include "servekit/util/large_stack.h"

#include <pthread.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace servekit {
namespace {

void* Trampoline(void* fn) {
  (*static_cast<const std::function<void()>*>(fn))();
  return nullptr;
}

}  // namespace

Status RunOnLargeStack(size_t stack_bytes, const std::function<void()>& fn) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return absl::InternalError("pthread_attr_init failed");
  int error = pthread_attr_setstacksize(&attr, stack_bytes);
  pthread_t thread;
  if (error == 0) {
    error = pthread_create(&thread, &attr, Trampoline, const_cast<std::function<void()>*>(&fn));
  }
  pthread_attr_destroy(&attr);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("cannot start a thread with a ", stack_bytes >> 20,
                                            " MiB stack: ", std::strerror(error)));
  }
  pthread_join(thread, nullptr);
  return absl::OkStatus();
}

}  // namespace servekit
