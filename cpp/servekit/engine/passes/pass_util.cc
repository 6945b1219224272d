#include <algorithm>
#include <cmath>

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

int GraphView::Producer(int v, const std::string& op_type) const {
  if (v < 0) return -1;
  const int p = producers_[v];
  return p >= 0 && graph_.nodes[p].op_type == op_type ? p : -1;
}

bool GraphView::IsScalar(int v, double target) const {
  if (v < 0) return false;
  const Value& value = graph_.values[v];
  if (!value.constant || value.dtype != DType::kFloat32 || value.constant->num_elements() != 1)
    return false;
  return std::abs(*value.constant->data<float>() - target) <= 1e-5 * std::abs(target);
}

bool GraphView::ReadOnlyWithin(const std::vector<int>& nodes, int result_node) const {
  std::vector<int> reads(graph_.values.size(), 0);
  for (int n : nodes) {
    for (int v : graph_.nodes[n].inputs) {
      if (v >= 0) ++reads[v];
    }
  }
  for (int n : nodes) {
    if (n == result_node) continue;
    for (int v : graph_.nodes[n].outputs) {
      if (uses_[v] != reads[v]) return false;
    }
  }
  return true;
}

}  // namespace passes
}  // namespace servekit
