// Error handling for the engine: absl::Status / absl::StatusOr everywhere, and two
// macros to propagate them. Exceptions appear only at the Python binding boundary.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace servekit {

using absl::Status;
using absl::StatusOr;

}  // namespace servekit

#define SERVEKIT_CONCAT_INNER(a, b) a##b
#define SERVEKIT_CONCAT(a, b) SERVEKIT_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    ::absl::Status servekit_status_ = (expr);            \
    if (!servekit_status_.ok()) return servekit_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F())` binds the value of a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  SERVEKIT_ASSIGN_OR_RETURN_IMPL(SERVEKIT_CONCAT(servekit_statusor_, __LINE__), lhs, expr)
#define SERVEKIT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()
