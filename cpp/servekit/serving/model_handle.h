// ModelHandle: one request's reference to an AVAILABLE model version.
//
// While any handle to a version exists, its Session stays alive: unloading a
// version waits (in the UNLOADING state) for the last handle to go. Handles are
// cheap to copy and safe to use from any thread; hold one only for the duration
// of a request.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "servekit/engine/session.h"

namespace servekit {

class ModelHandle {
 public:
  ModelHandle(std::string name, int64_t version, std::shared_ptr<const Session> session)
      : name_(std::move(name)), version_(version), session_(std::move(session)) {}

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const Session& session() const { return *session_; }

 private:
  std::string name_;
  int64_t version_;
  std::shared_ptr<const Session> session_;
};

}  // namespace servekit
