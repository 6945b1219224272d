// LoadSavedModel: a TensorFlow SavedModel directory (saved_model.pb +
// variables/) as a LoadedModel, with no TensorFlow in the process.
//
// Reads the meta graph tagged "serve" (saved_model_file.h), opens the
// variables' tensor bundle (tensor_bundle.h), ties the graph's variables to
// their checkpoint keys (variable_keys.h), and translates each signature_def
// (function_inliner.h, tf_translator.h) into its own Session. Signatures that
// compute the same tensors from the same inputs (Keras 3 exports "serve" and
// "serving_default" as one function) share one Session. Internal entries
// ("__saved_model_init_op") are not signatures. A signature that cannot be
// translated fails the whole load, with an error naming the signature: a
// version serves everything its file declares, or nothing.
#pragma once

#include <memory>
#include <string>

#include "servekit/formats/loaded_model.h"
#include "servekit/formats/model_loader.h"
#include "servekit/util/status.h"

namespace servekit {

StatusOr<std::shared_ptr<const LoadedModel>> LoadSavedModel(const std::string& dir,
                                                            const LoadOptions& options);

}  // namespace servekit
