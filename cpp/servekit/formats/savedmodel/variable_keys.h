// VariableCheckpointKeys: which checkpoint entry holds each variable of a
// SavedModel's top-level graph.
//
// TF2 (VarHandleOp nodes, captured by the functions that read them): the
// meta graph's SavedObjectGraph and the checkpoint's TrackableObjectGraph
// describe the same objects; walked together from their roots, matching
// children by local name, each saved variable meets the trackable object whose
// VARIABLE_VALUE attribute names its checkpoint key. A top-level function call
// passes its captured variables last, in the order the concrete function's
// bound_inputs list their saved objects, which ties each VarHandleOp to one.
// This is how TensorFlow's own loader restores, and it does not depend on
// how Keras 2, Keras 3 or tf.Module name their keys. Variables that route
// misses fall back to the trackable attribute whose full_name is the
// VarHandleOp's shared_name.
//
// TF1 (VariableV2 nodes, saved by a Saver): the key is the node's name.
//
// A variable a signature reads but that has no key is the translator's error
// to report, naming it.
#pragma once

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/proto/tf/meta_graph.pb.h"
#include "servekit/proto/tf/trackable_object_graph.pb.h"
#include "servekit/util/status.h"

namespace servekit {

class VariableCheckpointKeys {
 public:
  // `object_graph` is the checkpoint's (null for a TF1 checkpoint, which has
  // none). Both graphs must outlive this object. The object-graph route is
  // walked here; the full-name fallback only when a variable needs it.
  VariableCheckpointKeys(const SavedModelMetaGraph& meta_graph,
                         const tensorflow::TrackableObjectGraph* object_graph);

  // The checkpoint key of top-level variable node `node`, or nullptr. Not
  // thread-safe (the fallback's index is made on first use); the pointer
  // stays valid as long as this object.
  const std::string* Find(absl::string_view node) const;

 private:
  const tensorflow::TrackableObjectGraph* object_graph_;
  absl::flat_hash_map<std::string, std::string> keys_;  // TF1 and routed variables
  const TopLevelGraph& top_level_;
  absl::flat_hash_map<absl::string_view, size_t> handles_;  // VarHandleOp name -> its node's index
  mutable std::optional<absl::flat_hash_map<std::string, std::string>> by_full_name_;
};

}  // namespace servekit
