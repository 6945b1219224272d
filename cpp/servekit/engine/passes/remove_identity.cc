// Identity, Dropout at inference, and a Transpose whose perm keeps every axis in
// place (TensorFlow's Tensordot writes one before each Dense layer on 3-D
// inputs) pass their input through unchanged.
#include <algorithm>

#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

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
