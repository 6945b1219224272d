// LoadedModel: what one model version loads into, for every caller (the
// model server's versions, servekit.load in Python): its signatures, each a
// name, a method and the Session that computes it.
//
// An ONNX model has one signature, named as TensorFlow names its default
// ("serving_default", the predict method). A TensorFlow SavedModel has one per
// signature_def it serves; signatures that compute the same function share one
// Session. Immutable once built and safe to share between threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/engine/session.h"

namespace servekit {

inline constexpr char kDefaultSignatureName[] = "serving_default";
inline constexpr char kPredictMethodName[] = "tensorflow/serving/predict";

struct LoadedSignature {
  std::string name;
  std::string method_name;
  std::shared_ptr<const Session> session;  // never null
};

class LoadedModel {
 public:
  // `signatures`: at least one, names unique, sessions non-null (the loaders
  // guarantee it).
  explicit LoadedModel(std::vector<LoadedSignature> signatures);

  // A model with one signature, serving_default, run by `session`.
  static std::shared_ptr<const LoadedModel> WithOneSignature(
      std::shared_ptr<const Session> session);

  // In the order the loader gave them (a SavedModel's: by name).
  const std::vector<LoadedSignature>& signatures() const { return signatures_; }
  // The signature named `name`, or nullptr.
  const LoadedSignature* Find(absl::string_view name) const;

 private:
  std::vector<LoadedSignature> signatures_;
};

}  // namespace servekit
