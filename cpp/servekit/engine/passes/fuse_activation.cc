// An activation right after a Conv, Gemm or MatMul runs in that kernel's output
// pass, while the data is still in cache, instead of as another sweep.
#include <limits>

#include "servekit/engine/activation.h"
#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

// The activation `node` computes, or kNone if it cannot be fused.
Activation FusableActivation(const Graph& graph, const Node& node) {
  if (node.op_type == "LeakyRelu") {
    auto alpha = node.attributes.GetFloat("alpha", 0.01f);
    return alpha.ok() ? Activation::ForOpType("LeakyRelu", *alpha, 0) : Activation{};
  }
  if (node.op_type == "Clip") {
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    for (int i = 1; i < static_cast<int>(node.inputs.size()); ++i) {
      if (node.inputs[i] < 0) continue;
      const Value& v = graph.values[node.inputs[i]];
      if (!v.constant || v.dtype != DType::kFloat32 || v.constant->num_elements() != 1)
        return Activation{};
      (i == 1 ? lo : hi) = *v.constant->data<float>();
    }
    return Activation::ForOpType("Clip", lo, hi);
  }
  if (node.op_type == "Gelu") {
    auto approximate = node.attributes.GetString("approximate", "none");
    if (!approximate.ok() || *approximate != "none") return Activation{};
  }
  if (node.op_type == "Relu" || node.op_type == "Sigmoid" || node.op_type == "Tanh" ||
      node.op_type == "Gelu") {
    return Activation::ForOpType(node.op_type, 0, 0);
  }
  return Activation{};
}

}  // namespace

Status FuseActivations(Graph& graph) {
  std::vector<int> producers = graph.Producers();
  for (size_t x = 0; x < graph.nodes.size(); ++x) {
    Node& node = graph.nodes[x];
    const Activation activation = FusableActivation(graph, node);
    if (activation.kind == Activation::Kind::kNone) continue;
    const int p = producers[node.inputs[0]];
    if (p < 0) continue;
    Node& layer = graph.nodes[p];
    const bool fusable_layer =
        layer.op_type == "Conv" || layer.op_type == "Gemm" || layer.op_type == "MatMul";
    if (!fusable_layer || layer.attributes.Has("_activation")) continue;
    const std::vector<int> inputs = node.inputs;  // Clip's bounds, restored if the merge fails
    node.inputs.resize(1);
    if (!passes::MergeIntoProducer(graph, static_cast<int>(x))) {
      graph.nodes[x].inputs = inputs;
      continue;
    }
    activation.StoreAsFused(graph.nodes[p].attributes);
    producers = graph.Producers();
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
