// ModelHandle: one request's reference to an AVAILABLE model version.
//
// While any handle to a version exists, its LoadedModel stays alive: unloading a
// version waits (in the UNLOADING state) for the last handle to go. Handles are
// cheap to copy and safe to use from any thread; hold one only for the duration
// of a request.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "servekit/formats/loaded_model.h"

namespace servekit {

class ModelHandle {
 public:
  ModelHandle(std::string name, int64_t version, std::shared_ptr<const LoadedModel> model)
      : name_(std::move(name)), version_(version), model_(std::move(model)) {}

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const LoadedModel& model() const { return *model_; }

 private:
  std::string name_;
  int64_t version_;
  std::shared_ptr<const LoadedModel> model_;
};

}  // namespace servekit
