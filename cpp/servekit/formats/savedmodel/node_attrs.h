// A NodeDef's attributes, parsed when they are read.
//
// Readers take a NodeView (node_view.h): the node read in place; SetNodeAttr,
// for code that writes nodes, takes protobuf's NodeDef.
//
// servekit's node_def.proto keeps each entry of TensorFlow's
// `map<string, AttrValue> attr` as its serialized bytes (`repeated bytes
// attr`, the same wire format). Most attributes in a SavedModel are
// TensorFlow's annotations that serving never reads (`_output_shapes`,
// `_class`, `shared_name`, `debug_name`, ...); parsing every one of them
// into an AttrValue was about 40% of parsing a Keras model's saved_model.pb.
//
// Reading is linear in the entries, however many there are.
// An entry is read as protobuf reads a map entry: its key is field 1, its
// value field 2 (a repeated key replaces, a repeated value merges), other
// fields are skipped, and of two entries with one key the later wins.
// Errors are InvalidArgument naming the attribute (and the node) when the
// bytes are not a well-formed entry or AttrValue. Thread-safe: no state is
// shared.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/arena.h"
#include "servekit/formats/savedmodel/node_view.h"
#include "servekit/proto/tf/attr_value.pb.h"
#include "servekit/proto/tf/node_def.pb.h"
#include "servekit/util/status.h"

namespace servekit {

// The attribute `name` of `node` into *value: true when the node has it,
// false (leaving *value alone) when not.
StatusOr<bool> FindNodeAttr(const NodeView& node, absl::string_view name,
                            tensorflow::AttrValue* value);

// Replaces (or adds) the attribute `name` of `node`: for code that writes
// NodeDefs, as the tests and fuzzers do.
void SetNodeAttr(tensorflow::NodeDef* node, absl::string_view name,
                 const tensorflow::AttrValue& value);

// The attributes of one node, parsed together, for a reader that asks for
// several of them: every attribute whose name does not start with "_"
// (TensorFlow's internal annotations, which servekit does not read).
class NodeAttrs {
 public:
  // The values are parsed onto `arena` when one is given (a reader of many
  // nodes shares one: their shapes and lists then cost no heap allocation
  // each), else onto an arena of this object's own. An arena given must
  // outlive this object.
  explicit NodeAttrs(google::protobuf::Arena* arena = nullptr) : arena_(arena) {}
  // Not copied or moved: the values stay where the arena put them.
  NodeAttrs(const NodeAttrs&) = delete;
  NodeAttrs& operator=(const NodeAttrs&) = delete;

  // Reads `node`'s attributes (its bytes must outlive this object: keys are
  // views into them). The values of an earlier Read are parsed over; what
  // their sub-messages took on the arena stays there until it goes.
  Status Read(const NodeView& node);

  // The attribute `name`, or nullptr.
  const tensorflow::AttrValue* Find(absl::string_view name) const;

 private:
  // Up to this many keys are found by scanning; beyond, through by_key_ (a
  // hostile node may have a million).
  static constexpr size_t kScannedKeys = 16;

  // The slot of `name` in attrs_, or size_.
  size_t Slot(absl::string_view name) const;

  std::unique_ptr<google::protobuf::Arena> own_arena_;  // made when no arena is given
  google::protobuf::Arena* arena_;
  // Values on the arena; slots past size_ are kept for reuse. Inline room for
  // the attributes of most ops (Conv2D has 7 that serving reads).
  absl::InlinedVector<std::pair<absl::string_view, tensorflow::AttrValue*>, 8> attrs_;
  size_t size_ = 0;                                        // attrs_ holds at least this many
  absl::flat_hash_map<absl::string_view, size_t> by_key_;  // empty while size_ <= kScannedKeys
};

}  // namespace servekit
