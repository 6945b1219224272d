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
// The map may hold variables no signature reads; a variable a signature reads
// but the map lacks is the translator's error to report, naming it.
#pragma once

#include <map>
#include <string>

#include "servekit/proto/tf/meta_graph.pb.h"
#include "servekit/proto/tf/trackable_object_graph.pb.h"
#include "servekit/util/status.h"

namespace servekit {

// Top-level variable node name -> checkpoint key. `object_graph` is the
// checkpoint's (null for a TF1 checkpoint, which has none).
std::map<std::string, std::string> VariableCheckpointKeys(
    const tensorflow::MetaGraphDef& meta_graph,
    const tensorflow::TrackableObjectGraph* object_graph);

}  // namespace servekit
