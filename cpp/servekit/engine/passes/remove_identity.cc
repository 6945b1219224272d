// Identity, and Dropout at inference, pass their input through unchanged.
#include <algorithm>

#include "servekit/engine/passes/passes.h"

namespace servekit {

Status RemoveIdentityNodes(Graph& graph) {
  const std::vector<int> uses_before = graph.CountUses();
  for (size_t x = 0; x < graph.nodes.size(); ++x) {
    Node& node = graph.nodes[x];
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
