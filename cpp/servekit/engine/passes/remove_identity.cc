// Identity, Dropout at inference, and a Transpose whose perm keeps every axis in
// place (TensorFlow's Tensordot writes one before each Dense layer on 3-D
// inputs) pass their input through unchanged. So does a chain of Reshapes and
// Transposes that move no element and give back the shape it started from:
// an exporter's NHWC -> NCHW Reshape of a one-channel image followed by the
// channels-last pass's Transpose back to NHWC.
#include <algorithm>

#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

// Whether `node` is a Transpose that moves only axes of fixed size 1 (the
// others keep their order), as a Reshape would: the elements stay in order.
bool IsOrderKeepingTranspose(const Graph& graph, const Node& node) {
  if (node.op_type != "Transpose" || node.inputs.empty() || node.inputs[0] < 0) return false;
  const SymShape& shape = graph.values[node.inputs[0]].shape;
  auto perm = node.attributes.GetInts("perm", {});
  if (!perm.ok() || perm->size() != shape.size()) return false;
  int64_t last = -1;
  for (int64_t axis : *perm) {
    if (axis < 0 || axis >= static_cast<int64_t>(shape.size())) return false;
    if (shape[axis] == Dim::Fixed(1)) continue;
    if (axis < last) return false;
    last = axis;
  }
  return true;
}

bool MovesNoElement(const Graph& graph, const Node& node) {
  return node.op_type == "Reshape" || node.op_type == "Identity" ||
         IsOrderKeepingTranspose(graph, node);
}

// The value that `node`'s input is, up to Reshapes and element-order-keeping
// Transposes: the start of the chain that ends at `node`.
int ChainSource(const Graph& graph, const std::vector<int>& producers, const Node& node) {
  int value = node.inputs[0];
  for (size_t steps = 0; steps < graph.nodes.size(); ++steps) {
    const int p = value < 0 ? -1 : producers[value];
    if (p < 0 || !MovesNoElement(graph, graph.nodes[p]) || graph.nodes[p].inputs.empty()) break;
    value = graph.nodes[p].inputs[0];
  }
  return value;
}

// Rewrites each Reshape or order-keeping Transpose whose chain gives back its
// source's shape into an Identity of that source.
void SkipShapeRoundTrips(Graph& graph) {
  const std::vector<int> producers = graph.Producers();
  for (Node& node : graph.nodes) {
    if (node.op_type != "Reshape" && !IsOrderKeepingTranspose(graph, node)) continue;
    if (node.inputs.empty() || node.inputs[0] < 0 || node.outputs.size() != 1) continue;
    const int source = ChainSource(graph, producers, node);
    if (source < 0) continue;
    const Value& in = graph.values[source];
    const Value& out = graph.values[node.outputs[0]];
    if (!in.typed || !out.typed || in.dtype != out.dtype || in.shape != out.shape ||
        out.constant.has_value()) {
      continue;
    }
    node.op_type = "Identity";
    node.inputs = {source};
    node.attributes = Attributes();
  }
}

bool IsIdentityTranspose(const Graph& graph, const Node& node) {
  if (node.op_type != "Transpose" || node.inputs.empty() || node.inputs[0] < 0) return false;
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  // Without perm, Transpose reverses the axes: the identity only up to rank 1.
  auto perm = node.attributes.GetInts("perm", {});
  if (!perm.ok()) return false;
  if (perm->empty()) return rank <= 1;
  if (static_cast<int>(perm->size()) != rank) return false;
  for (int i = 0; i < rank; ++i) {
    if ((*perm)[i] != i) return false;
  }
  return true;
}

}  // namespace

Status RemoveIdentityNodes(Graph& graph) {
  SkipShapeRoundTrips(graph);
  const std::vector<int> uses_before = graph.CountUses();
  for (size_t x = 0; x < graph.nodes.size(); ++x) {
    Node& node = graph.nodes[x];
    if (IsIdentityTranspose(graph, node)) {
      node.op_type = "Identity";
      node.attributes = Attributes();
    }
    const bool dropout = node.op_type == "Dropout" &&
                         (node.outputs.size() == 1 || uses_before[node.outputs[1]] == 0);
    if (node.op_type != "Identity" && !dropout) continue;
    if (graph.values[node.outputs[0]].constant.has_value()) continue;  // folded already
    node.inputs.resize(1);
    node.outputs.resize(1);
    if (passes::MergeIntoProducer(graph, static_cast<int>(x))) continue;
    // No producer to merge into (a graph input): read the input directly,
    // unless the output is a graph output whose name must stay.
    const int in = node.inputs[0], out = node.outputs[0];
    if (std::find(graph.outputs.begin(), graph.outputs.end(), out) != graph.outputs.end()) continue;
    for (Node& consumer : graph.nodes) {
      for (int& id : consumer.inputs) {
        if (id == out) id = in;
      }
    }
    node.op_type.clear();
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
