// SessionLoader: the Manager's LoadFunction for real model versions. Detects the
// platform when the config leaves it empty, loads ONNX versions into an engine
// Session, and refuses SavedModel versions (their loader comes later).
#pragma once

#include "servekit/engine/session.h"
#include "servekit/serving/manager.h"

namespace servekit {

LoadFunction SessionLoader(SessionOptions options);

}  // namespace servekit
