// Add(Conv(x), r) with r of the Conv's output shape, a residual block's skip
// connection, becomes the Conv with r as a fourth input: the kernel adds r in
// its output pass (oneDNN as a post-op, while the output is in cache) instead
// of a separate sweep over memory, and the activation after the Add then fuses
// into the Conv too (FuseActivations runs again after this pass). Runs after
// UseChannelsLast: by then a chain's Adds read the NHWC convolutions directly.
#include <optional>

#include "servekit/engine/passes/passes.h"

namespace servekit {

Status FuseConvResidual(Graph& graph) {
  // Rebuilt after each rewrite (producers and use counts change).
  std::optional<passes::GraphView> view(std::in_place, graph);
  for (size_t x = 0; x < graph.nodes.size(); ++x) {
    if (graph.nodes[x].op_type != "Add" || graph.nodes[x].inputs.size() != 2) continue;
    const Node& add = graph.nodes[x];
    const SymShape& y = graph.values[add.outputs[0]].shape;
    for (int side = 0; side < 2; ++side) {
      const int conv_out = add.inputs[side], residual = add.inputs[1 - side];
      const int conv = view->Producer(conv_out, "Conv");
      if (conv < 0 || residual == conv_out || view->uses(conv_out) != 1) continue;
      const Node& c = graph.nodes[conv];
      // The residual must exist before the Conv runs, and not broadcast.
      if (c.attributes.Has("_activation") || c.inputs.size() > 3 ||
          view->Producer(residual) > conv || graph.values[residual].shape != y ||
          graph.values[conv_out].shape != y || graph.values[residual].dtype != DType::kFloat32) {
        continue;
      }
      const std::vector<int> old_inputs = c.inputs;
      Node& fused = graph.nodes[conv];
      fused.inputs.resize(3, -1);
      fused.inputs.push_back(residual);
      graph.nodes[x].inputs = {conv_out};
      if (!passes::MergeIntoProducer(graph, static_cast<int>(x))) {
        graph.nodes[conv].inputs = old_inputs;
        graph.nodes[x].inputs =
            side == 0 ? std::vector<int>{conv_out, residual} : std::vector<int>{residual, conv_out};
        continue;
      }
      view.emplace(graph);
      break;
    }
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
