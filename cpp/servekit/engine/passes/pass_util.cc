#include <algorithm>

#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace passes {

bool MergeIntoProducer(Graph& graph, int x) {
  Node& node = graph.nodes[x];
  if (node.inputs.empty() || node.inputs[0] < 0 || node.outputs.size() != 1) return false;
  const int v = node.inputs[0];
  const std::vector<int> uses = graph.CountUses();
  if (uses[v] != 1 || graph.values[v].constant.has_value()) return false;
  if (std::find(graph.outputs.begin(), graph.outputs.end(), v) != graph.outputs.end()) return false;
  for (size_t p = 0; p < static_cast<size_t>(x); ++p) {
    Node& producer = graph.nodes[p];
    for (int& out : producer.outputs) {
      if (out == v && !producer.op_type.empty()) {
        out = node.outputs[0];
        node.op_type.clear();
        return true;
      }
    }
  }
  return false;
}

void CompactNodes(Graph& graph) {
  graph.nodes.erase(std::remove_if(graph.nodes.begin(), graph.nodes.end(),
                                   [](const Node& n) { return n.op_type.empty(); }),
                    graph.nodes.end());
}

}  // namespace passes
}  // namespace servekit
