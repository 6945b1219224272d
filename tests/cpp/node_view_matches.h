// SameNode: a NodeView (node_view.h) compared with protobuf's parse of the
// same bytes, for the tests and the fuzzers (header-only, no gtest).
#pragma once

#include "servekit/formats/savedmodel/node_view.h"
#include "servekit/proto/tf/node_def.pb.h"

namespace servekit {
namespace test {

// True when `view` holds what protobuf parsed into `node`: every field
// node_def.proto has but the two debug fields (6, 7), which serving does not
// read.
inline bool SameNode(const NodeView& view, const tensorflow::NodeDef& node) {
  if (view.name() != node.name() || view.op() != node.op() || view.device() != node.device() ||
      view.inputs().size() != static_cast<size_t>(node.input_size()) ||
      view.attrs().size() != static_cast<size_t>(node.attr_size())) {
    return false;
  }
  for (int i = 0; i < node.input_size(); ++i) {
    if (view.inputs()[i] != node.input(i)) return false;
  }
  for (int i = 0; i < node.attr_size(); ++i) {
    if (view.attrs()[i] != node.attr(i)) return false;
  }
  return true;
}

}  // namespace test
}  // namespace servekit
