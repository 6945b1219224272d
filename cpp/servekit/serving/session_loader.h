// SessionLoader: the Manager's LoadFunction for real model versions. Detects the
// platform when the config leaves it empty ("onnx" for model.onnx,
// "tensorflow" for a SavedModel) and loads the version into a LoadedModel:
// engine Sessions, one per signature.
#pragma once

#include "servekit/engine/session.h"
#include "servekit/serving/manager.h"

namespace servekit {

LoadFunction SessionLoader(SessionOptions options);

}  // namespace servekit
