// NodeView: a TensorFlow NodeDef read in place from its serialized bytes.
//
// Why not protobuf's NodeDef: parsing one copies every string field
// (name, op, each input, each attribute entry) into a std::string of its own,
// and most of them are longer than the short-string buffer, so a SavedModel
// load paid a heap allocation and a free for each. A Keras CNN's reload made
// about 600 of them, a tenth of its time with the frees. A view holds
// string_views into the serialized node instead, which must outlive it (the
// copy of the file's nodes or functions that the TopLevelGraph or
// FunctionLibrary reading them keeps).
//
// Read reads what protobuf's parser would read from servekit's node_def.proto:
// of name (1), op (2) and device (4) the last occurrence wins; inputs (3) and
// attribute entries (5, kept serialized: node_attrs.h reads them) are kept in
// order; a field of another number, or of a known number with another wire
// type, is skipped as protobuf keeps it as an unknown field. It refuses what
// a parse of the node on its own refuses: bytes that are not a well-formed
// sequence of fields (unknown groups nest up to 100 deep), and a name, op,
// input or device that is not valid UTF-8 (proto3 strings). (Parsed inside a
// FunctionDef, a node spends one of protobuf's 100 levels: a body node with
// groups nested exactly 100 deep, which protobuf would refuse there, is read.)
// Thread-safe: a view is not changed after Read.
#pragma once

#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace servekit {

class NodeView {
 public:
  // Reads `serialized` into this view; false (the view then empty) when a
  // protobuf parse of a NodeDef would fail.
  bool Read(absl::string_view serialized);

  absl::string_view name() const { return name_; }
  absl::string_view op() const { return op_; }
  absl::string_view device() const { return device_; }
  // Data inputs first, then control inputs ("^node"), as in the file.
  absl::Span<const absl::string_view> inputs() const { return inputs_; }
  // Each entry of TensorFlow's `map<string, AttrValue> attr`, serialized.
  absl::Span<const absl::string_view> attrs() const { return attrs_; }

 private:
  void Clear();

  absl::string_view name_;
  absl::string_view op_;
  absl::string_view device_;
  // A Keras node has up to about 4 inputs and 6 attributes.
  absl::InlinedVector<absl::string_view, 4> inputs_;
  absl::InlinedVector<absl::string_view, 6> attrs_;
};

}  // namespace servekit
