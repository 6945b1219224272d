// MatMul(A, W) + b with constant W [K, N] and a constant b of N elements (any
// leading dims of 1) becomes one node whose kernel adds the bias in its output
// pass: a Gemm when A is 2-D, else a MatMul with the bias as a third input (a
// transformer's Dense layers on [batch, tokens, features]).
#include "servekit/engine/passes/passes.h"

namespace servekit {

Status FuseMatMulAdd(Graph& graph) {
  std::vector<int> producers = graph.Producers();
  for (size_t x = 0; x < graph.nodes.size(); ++x) {
    Node& add = graph.nodes[x];
    if (add.op_type != "Add") continue;
    for (int side = 0; side < 2; ++side) {
      const int matmul_out = add.inputs[side];
      const int bias = add.inputs[1 - side];
      const int p = producers[matmul_out];
      if (p < 0 || graph.nodes[p].op_type != "MatMul" ||
          graph.nodes[p].attributes.Has("_activation"))
        continue;
      Node& matmul = graph.nodes[p];
      const Value& a = graph.values[matmul.inputs[0]];
      const Value& w = graph.values[matmul.inputs[1]];
      const Value& b = graph.values[bias];
      if (a.shape.size() < 2 || !w.constant || w.shape.size() != 2 || !b.constant ||
          b.dtype != DType::kFloat32) {
        continue;
      }
      const int64_t n = w.shape[1].value();
      // b must not broadcast the output to a higher rank or across rows.
      if (b.constant->num_elements() != n || b.shape.size() > a.shape.size() ||
          (!b.shape.empty() && b.shape.back() != Dim::Fixed(n))) {
        continue;
      }
      const std::vector<int> old_inputs = matmul.inputs;
      const std::string old_op = matmul.op_type;
      if (a.shape.size() == 2) matmul.op_type = "Gemm";
      matmul.inputs = {
          old_inputs[0], old_inputs[1],
          graph.AddConstant(absl::StrCat(matmul.name, "_bias"), b.constant->Reshaped({n}))};
      add.inputs = {matmul_out};
      if (!passes::MergeIntoProducer(graph, static_cast<int>(x))) {
        graph.nodes[p].op_type = old_op;
        graph.nodes[p].inputs = old_inputs;
        graph.nodes[x].inputs =
            side == 0 ? std::vector<int>{matmul_out, bias} : std::vector<int>{bias, matmul_out};
        continue;
      }
      producers = graph.Producers();
      break;
    }
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
