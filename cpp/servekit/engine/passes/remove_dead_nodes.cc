// Keeps only the nodes a graph output depends on at run time. Inputs read only
// at load time (Reshape's shape, Squeeze's axes...) keep nothing alive, which is
// how exporters' Shape->Gather->Concat subgraphs disappear. Constants no
// remaining node reads are released.
#include "servekit/engine/op_registry.h"
#include "servekit/engine/passes/passes.h"

namespace servekit {

Status RemoveDeadNodes(Graph& graph) {
  std::vector<bool> live(graph.values.size(), false);
  for (int id : graph.outputs) live[id] = true;
  const OpRegistry& registry = OpRegistry::Global();
  for (auto it = graph.nodes.rbegin(); it != graph.nodes.rend(); ++it) {
    Node& node = *it;
    bool needed = false, all_constant = true;
    for (int id : node.outputs) {
      needed = needed || live[id];
      all_constant = all_constant && graph.values[id].constant.has_value();
    }
    if (!needed || all_constant) {
      node.op_type.clear();
      continue;
    }
    const OpSchema* schema = registry.Find(node.op_type);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i] >= 0 && !(schema && schema->IsLoadTimeInput(static_cast<int>(i)))) {
        live[node.inputs[i]] = true;
      }
    }
  }
  passes::CompactNodes(graph);
  // Load-time inputs' constants stay (kernels read them when they are created).
  std::vector<bool> referenced(graph.values.size(), false);
  for (const Node& node : graph.nodes) {
    for (int id : node.inputs) {
      if (id >= 0) referenced[id] = true;
    }
  }
  for (int id : graph.outputs) referenced[id] = true;
  for (size_t id = 0; id < graph.values.size(); ++id) {
    if (!referenced[id]) graph.values[id].constant.reset();
  }
  return absl::OkStatus();
}

}  // namespace servekit
