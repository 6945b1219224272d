// The one place where absl::Status becomes a Python exception.
//
// servekit._core.Error is the base of every servekit error; each status code has
// a subclass that also derives from the matching built-in, so callers can catch
// ValueError for bad input without knowing servekit's types:
//   INVALID_ARGUMENT -> InvalidArgumentError(Error, ValueError)
//   NOT_FOUND        -> NotFoundError(Error, LookupError)
//   RESOURCE_EXHAUSTED -> ResourceExhaustedError(Error, MemoryError)
//   UNAVAILABLE, FAILED_PRECONDITION, UNIMPLEMENTED, DATA_LOSS, INTERNAL and the rest
//                    -> their own subclasses of Error
#pragma once

#include <pybind11/pybind11.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace servekit::bindings {

void RegisterExceptions(pybind11::module_& m);

// Raises the Python exception for a non-OK status (must hold the GIL).
[[noreturn]] void RaiseStatus(const absl::Status& status);

inline void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  if (!value.ok()) RaiseStatus(value.status());
  return *std::move(value);
}

}  // namespace servekit::bindings
