// TopLevelGraph: the nodes of a SavedModel's top-level graph (GraphDef.node),
// each kept serialized and parsed the first time it is asked for.
//
// Why lazily: a TF2 export's top-level graph is mostly bookkeeping that
// serving never reads: for each variable a VarHandleOp, and around it the
// ReadVariableOp, AssignVariableOp and VarIsInitializedOp nodes of the
// checkpoint's restore (a Keras CNN: 106 nodes, of which its signatures need
// about 15). Parsing them all was the largest part of reading
// saved_model.pb.
//
// Each node's name and op are read on the wire when it is added (as protobuf
// would parse them: the last occurrence of a field wins); a node is checked
// beyond that only when it is parsed, into a NodeView (node_view.h) of the
// graph's copy of its bytes. Two nodes with one name are refused, as
// TensorFlow refuses them. Find and Parse are const but parse into a cache
// (a node that does not parse is not tried again): not thread-safe (one load
// reads its graph from one thread); the pointers they return stay valid as
// long as the graph.
#pragma once

#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "servekit/formats/savedmodel/node_view.h"
#include "servekit/util/status.h"

namespace servekit {

class TopLevelGraph {
 public:
  struct Node {
    absl::string_view name;
    absl::string_view op;
    absl::string_view serialized;
  };

  // Takes the serialized NodeDefs, in file order (copied). InvalidArgument,
  // keeping none, when one of them is not a well-formed sequence of fields or
  // two of them have one name.
  Status Assign(const std::vector<absl::string_view>& serialized_nodes);

  // Every node's name and op, in file order.
  const std::vector<Node>& nodes() const { return nodes_; }

  // The node named `name`, parsed; nullptr when there is none.
  StatusOr<const NodeView*> Find(absl::string_view name) const;
  // The node nodes()[i], parsed. InvalidArgument (naming it) when its bytes
  // do not parse.
  StatusOr<const NodeView*> Parse(size_t i) const;

 private:
  Status Corrupt(size_t i) const;  // node i does not parse

  // The serialized nodes, one after another (a buffer that stays where it is
  // when the graph is moved: nodes_ and by_name_ point into it).
  std::unique_ptr<char[]> storage_;
  std::vector<Node> nodes_;
  absl::flat_hash_map<absl::string_view, size_t> by_name_;
  mutable std::vector<std::unique_ptr<NodeView>> parsed_;  // null until asked for
  mutable absl::flat_hash_set<size_t> failed_;             // nodes that did not parse
};

}  // namespace servekit
