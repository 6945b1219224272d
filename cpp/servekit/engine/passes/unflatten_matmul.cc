// Reshape(MatMul(Reshape(x, [-1, K]), W), x's leading dims + [N]) is
// MatMul(x, W): TensorFlow's Tensordot writes a Dense layer on [batch, tokens,
// features] that way. Without the reshapes the bias Add and the activation
// after it sit right behind the MatMul, where FuseMatMulAdd and
// FuseActivations can fold them in.
#include <algorithm>
#include <optional>

#include "servekit/engine/passes/passes.h"

namespace servekit {

Status UnflattenMatMul(Graph& graph) {
  // Rebuilt after each rewrite (producers and use counts change).
  std::optional<passes::GraphView> view(std::in_place, graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Node& unflatten = graph.nodes[i];
    if (unflatten.op_type != "Reshape") continue;
    const int product = unflatten.inputs[0];
    const int matmul = view->Producer(product, "MatMul");
    if (matmul < 0 || view->uses(product) != 1 || view->node(matmul).inputs.size() != 2) continue;
    const int flat = view->node(matmul).inputs[0];
    const int flatten = view->Producer(flat, "Reshape");
    if (flatten < 0 || view->uses(flat) != 1) continue;
    const int x = view->node(flatten).inputs[0];
    const SymShape& x_shape = graph.values[x].shape;
    const SymShape& w_shape = graph.values[view->node(matmul).inputs[1]].shape;
    const SymShape& flat_shape = graph.values[flat].shape;
    const SymShape& y_shape = graph.values[unflatten.outputs[0]].shape;
    // x [..., K] flattened to [rows, K], times W [K, N], back to [..., N].
    if (x_shape.size() < 2 || flat_shape.size() != 2 || w_shape.size() != 2 ||
        flat_shape[1] != x_shape.back() || y_shape.size() != x_shape.size() ||
        !std::equal(x_shape.begin(), x_shape.end() - 1, y_shape.begin()) ||
        y_shape.back() != w_shape[1]) {
      continue;
    }
    Node& product_node = graph.nodes[matmul];
    product_node.inputs[0] = x;
    product_node.outputs = unflatten.outputs;
    graph.nodes[flatten].op_type.clear();
    unflatten.op_type.clear();
    view.emplace(graph);
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
